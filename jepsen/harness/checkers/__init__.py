"""Checkers (docs/fault-injection.md 4.4): wgl, versions, setfull, converge, avail, logscan."""
