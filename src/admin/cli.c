/* `raftgate cluster status|join|promote|remove|transfer --admin HOST:PORT`
 * over blocking sockets: one HTTP/1.1 request with Connection: close, the
 * whole answer read until EOF. */
#include "admin/cli.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CLI_MAX_ANSWER (1u << 20)

struct cli_opts {
    const char *admin, *token, *raft, *node_admin, *proxy, *name;
    long long id;
};

static void cli_usage(void)
{
    fprintf(stderr,
            "usage: raftgate cluster status   --admin HOST:PORT\n"
            "       raftgate cluster join     --admin HOST:PORT --id N "
            "--raft HOST:PORT --node-admin HOST:PORT [--proxy HOST:PORT] "
            "[--name NAME]\n"
            "       raftgate cluster promote  --admin HOST:PORT --id N\n"
            "       raftgate cluster remove   --admin HOST:PORT --id N\n"
            "       raftgate cluster transfer --admin HOST:PORT [--id N]\n"
            "  --token T  bearer token (default $RAFTGATE_ADMIN_TOKEN)\n");
}

static int cli_connect(const char *hostport)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    struct addrinfo hints = {0}, *ai, *p;
    int fd = -1;

    if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host))
        return -1;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        return -1;
    for (p = ai; p != NULL && fd < 0; p = p->ai_next) {
        fd = socket(p->ai_family, p->ai_socktype, p->ai_protocol);
        if (fd >= 0 && connect(fd, p->ai_addr, p->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Send the request and print the answer's body; returns the status. */
static int cli_request(const struct cli_opts *o, const char *method,
                       const char *path, const char *body)
{
    static char ans[CLI_MAX_ANSWER + 1];
    char head[1024], auth[600] = "";
    size_t got = 0;
    ssize_t r;
    int fd = cli_connect(o->admin), status = 0;
    const char *sep;

    if (fd < 0) {
        fprintf(stderr, "raftgate: cannot connect to %s\n", o->admin);
        return -1;
    }
    if (o->token != NULL && *o->token)
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n",
                 o->token);
    snprintf(head, sizeof(head),
             "%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: "
             "application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n",
             method, path, o->admin, auth, strlen(body));
    if (write_all(fd, head, strlen(head)) != 0 ||
        write_all(fd, body, strlen(body)) != 0) {
        fprintf(stderr, "raftgate: %s: cannot send the request: %s\n",
                o->admin, strerror(errno));
        close(fd);
        return -1;
    }
    while (got < CLI_MAX_ANSWER &&
           (r = read(fd, ans + got, CLI_MAX_ANSWER - got)) > 0)
        got += (size_t)r;
    close(fd);
    ans[got] = '\0';
    if (sscanf(ans, "HTTP/1.%*d %d", &status) != 1) {
        /* an https admin API (admin.tls_certificate) drops plain HTTP */
        fprintf(stderr,
                "raftgate: %s answered no HTTP response (%zu bytes); this "
                "command speaks plain HTTP only, so with admin TLS on use "
                "curl --cacert against the endpoint\n",
                o->admin, got);
        return -1;
    }
    sep = strstr(ans, "\r\n\r\n");
    printf("%d %s\n", status, sep ? sep + 4 : "");
    return status;
}

static int cli_parse(int argc, char **argv, struct cli_opts *o)
{
    static const struct option longopts[] = {
        {"admin", required_argument, NULL, 'a'},
        {"token", required_argument, NULL, 't'},
        {"id", required_argument, NULL, 'i'},
        {"raft", required_argument, NULL, 'r'},
        {"node-admin", required_argument, NULL, 'n'},
        {"proxy", required_argument, NULL, 'p'},
        {"name", required_argument, NULL, 'N'},
        {NULL, 0, NULL, 0},
    };
    int c;

    o->token = getenv("RAFTGATE_ADMIN_TOKEN");
    optind = 2; /* skip "cluster" and the verb */
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': o->admin = optarg; break;
        case 't': o->token = optarg; break;
        case 'i': o->id = atoll(optarg); break;
        case 'r': o->raft = optarg; break;
        case 'n': o->node_admin = optarg; break;
        case 'p': o->proxy = optarg; break;
        case 'N': o->name = optarg; break;
        default: return -1;
        }
    }
    return o->admin != NULL && optind == argc ? 0 : -1;
}

static int cli_run(const struct cli_opts *o, const char *verb)
{
    char path[64], body[1024];

    if (strcmp(verb, "status") == 0)
        return cli_request(o, "GET", "/cluster", "");
    if (strcmp(verb, "transfer") == 0) {
        snprintf(body, sizeof(body), "{\"id\": %lld}", o->id);
        return cli_request(o, "POST", "/cluster/transfer", body);
    }
    if (o->id < 1)
        return -2;
    snprintf(path, sizeof(path), "/cluster/members/%lld", o->id);
    if (strcmp(verb, "remove") == 0)
        return cli_request(o, "DELETE", path, "");
    if (strcmp(verb, "promote") == 0) {
        strcat(path, "/promote");
        return cli_request(o, "POST", path, "");
    }
    if (strcmp(verb, "join") != 0 || o->raft == NULL || o->node_admin == NULL)
        return -2;
    snprintf(body, sizeof(body),
             "{\"id\": %lld, \"raft\": \"%s\", \"admin\": \"%s\", "
             "\"proxy\": \"%s\", \"name\": \"%s\"}",
             o->id, o->raft, o->node_admin, o->proxy ? o->proxy : "",
             o->name ? o->name : "");
    return cli_request(o, "POST", "/cluster/members", body);
}

int rg_cli_cluster(int argc, char **argv)
{
    struct cli_opts o = {0};
    int status;

    if (argc < 2 || cli_parse(argc, argv, &o) != 0) {
        cli_usage();
        return 2;
    }
    status = cli_run(&o, argv[1]);
    if (status == -2) {
        cli_usage();
        return 2;
    }
    return status >= 200 && status < 300 ? 0 : 1;
}
