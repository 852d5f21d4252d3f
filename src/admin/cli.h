/* `raftgate cluster ...`: a small blocking client of a node's admin API
 * for operators (status, join, promote, remove, transfer). */
#ifndef RG_ADMIN_CLI_H
#define RG_ADMIN_CLI_H

/* Run the subcommand in @argv[1..] (argv[0] is "cluster"); prints the
 * answer to stdout and errors to stderr. Returns the process exit code:
 * 0 on a 2xx answer, 1 on another answer or a connection error, 2 on a
 * usage error. Thread: main, blocking. */
int rg_cli_cluster(int argc, char **argv);

#endif
