"""Checkers (JEPSEN.md 4.4): wgl, versions, setfull, converge, avail, logscan."""
