/* Unit tests for src/config: the Kong 3.0 declarative parser (gateway.c),
 * the node config (node.c) and their shared YAML walker (yamltree.c). */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/gateway.h"
#include "config/node.h"
#include "core/alloc.h"

/* The source tree: `make check` exports RAFTGATE_SRCDIR; otherwise it is
 * found from this file's path. */
static const char *srcdir(void)
{
    static char buf[PATH_MAX];
    const char *env = getenv("RAFTGATE_SRCDIR");
    const char *cut;

    if (env != NULL)
        return env;
    snprintf(buf, sizeof(buf), "%s", __FILE__);
    cut = strstr(buf, "tests/unit/test_config.c");
    if (cut == NULL)
        return ".";
    buf[cut - buf > 0 ? cut - buf - 1 : 0] = '\0';
    return buf[0] != '\0' ? buf : ".";
}

static int parse(struct rg_gateway *gw, const char *yaml, struct rg_errbuf *eb)
{
    return rg_gateway_parse(gw, yaml, strlen(yaml), NULL, eb);
}

/* Parsing @yaml fails with -EINVAL, exactly message @msg, and leaves the
 * gateway zeroed. */
static void expect_error(const char *yaml, const char *msg)
{
    struct rg_gateway gw;
    struct rg_errbuf eb;
    int rv = parse(&gw, yaml, &eb);

    ck_assert_int_eq(rv, -EINVAL);
    ck_assert_str_eq(eb.msg, msg);
    ck_assert_ptr_null(gw.services);
    ck_assert_ptr_null(gw.routes);
    ck_assert_uint_eq(gw.n_services, 0);
    ck_assert_uint_eq(gw.n_routes, 0);
}

#define HDR "_format_version: \"3.0\"\n"
#define SVC HDR "services:\n- name: a\n  url: http://10.0.0.1\n"
#define UPS HDR "upstreams:\n- name: u\n"

/* ---- Good gateway files parse to the expected data ---- */

/* The shipped demo config is the README's demo: one service, three
 * routes with the documented matchers. */
START_TEST(default_gateway_file_parses)
{
    char path[PATH_MAX];
    struct rg_gateway gw;
    struct rg_errbuf eb;
    struct rg_route *r;

    snprintf(path, sizeof(path), "%s/conf/gateway.yml", srcdir());
    ck_assert_msg(rg_gateway_load(&gw, path, NULL, &eb) == 0, "%s", eb.msg);
    ck_assert_uint_eq(gw.n_services, 1);
    ck_assert_str_eq(gw.services[0].name, "demo");
    ck_assert_str_eq(gw.services[0].host, "127.0.0.1");
    ck_assert_uint_eq(gw.services[0].port, 9000);
    ck_assert_ptr_null(gw.services[0].path);
    ck_assert_uint_eq(gw.n_routes, 3);
    r = &gw.routes[0];
    ck_assert_str_eq(r->name, "demo");
    ck_assert_uint_eq(r->n_paths, 1);
    ck_assert_str_eq(r->paths[0].path, "/demo");
    ck_assert_int_eq(r->strip_path, 1);
    ck_assert_uint_eq(r->methods, 0);
    r = &gw.routes[1];
    ck_assert_str_eq(r->paths[0].path, "/demo-api");
    ck_assert_uint_eq(r->methods, RG_M_GET | RG_M_POST);
    ck_assert_int_eq(r->strip_path, 0);
    r = &gw.routes[2];
    ck_assert_uint_eq(r->n_paths, 0);
    ck_assert_uint_eq(r->n_hosts, 1);
    ck_assert_str_eq(r->hosts[0], "demo.local");
    for (size_t i = 0; i < 3; i++)
        ck_assert_uint_eq(gw.routes[i].service, 0);
    rg_gateway_release(&gw);
    ck_assert_ptr_null(gw.routes);
}
END_TEST

static const char full_yaml[] =
    "_format_version: \"3.0\"\n"
    "_transform: true\n"
    "_workspace: default\n"
    "plugins: []\n"
    "consumers: []\n"
    "routes:\n"
    "- name: by-name\n"
    "  service: users\n"
    "  paths: [/top]\n"
    "- name: by-id\n"
    "  service: {id: 4E8A1E1B-8C6B-4E0B-9D43-0B4B5E0E2A10}\n"
    "  hosts: [\"*.Example.COM\", \"api.*\"]\n"
    "- service: {name: orders}\n"
    "  methods: [get, Delete]\n"
    "services:\n"
    "- name: users\n"
    "  id: 4e8a1e1b-8c6b-4e0b-9d43-0b4b5e0e2a10\n"
    "  protocol: http\n"
    "  host: Users.Internal\n"
    "  port: 8080\n"
    "  path: /v1\n"
    "  retries: 2\n"
    "  connect_timeout: 1000\n"
    "  write_timeout: 2000\n"
    "  read_timeout: 3000\n"
    "  enabled: false\n"
    "  tags: [a, b]\n"
    "  retry_backoff: {type: exponential, base: 50, max: 800, jitter: true}\n"
    "  routes:\n"
    "  - name: u1\n"
    "    paths: [\"=/exact\", /a/./b//c/, /%7euser]\n"
    "    strip_path: false\n"
    "    preserve_host: true\n"
    "    protocols: [http, https]\n"
    "    regex_priority: 0\n"
    "    path_handling: v0\n"
    "    https_redirect_status_code: 426\n"
    "    request_buffering: true\n"
    "    response_buffering: true\n"
    "    connect_timeout: 10\n"
    "    write_timeout: 20\n"
    "    read_timeout: 30\n"
    "    retries: 0\n"
    "    retry_backoff: {type: linear}\n"
    "    headers: null\n"
    "    plugins: []\n"
    "- name: orders\n"
    "  url: http://[::1]:81/o/\n";

/* Every supported key lands in the right field, with Kong's defaults
 * where a key is absent and references resolved to indexes. */
START_TEST(full_gateway_parses)
{
    struct rg_gateway gw;
    struct rg_errbuf eb;
    struct rg_service *s;
    struct rg_route *r;

    ck_assert_msg(parse(&gw, full_yaml, &eb) == 0, "%s", eb.msg);
    ck_assert_uint_eq(gw.n_services, 2);
    s = &gw.services[0];
    ck_assert_str_eq(s->name, "users");
    ck_assert_str_eq(s->id, "4e8a1e1b-8c6b-4e0b-9d43-0b4b5e0e2a10");
    ck_assert_str_eq(s->host, "users.internal");
    ck_assert_uint_eq(s->port, 8080);
    ck_assert_str_eq(s->path, "/v1");
    ck_assert_uint_eq(s->retries, 2);
    ck_assert_uint_eq(s->connect_timeout_ms, 1000);
    ck_assert_uint_eq(s->write_timeout_ms, 2000);
    ck_assert_uint_eq(s->read_timeout_ms, 3000);
    ck_assert_int_eq(s->enabled, 0);
    ck_assert_int_eq(s->backoff.kind, RG_BACKOFF_EXPONENTIAL);
    ck_assert_uint_eq(s->backoff.base_ms, 50);
    ck_assert_uint_eq(s->backoff.max_ms, 800);
    ck_assert_int_eq(s->backoff.jitter, 1);
    s = &gw.services[1];
    ck_assert_str_eq(s->host, "::1");
    ck_assert_uint_eq(s->port, 81);
    ck_assert_str_eq(s->path, "/o/");
    ck_assert_uint_eq(s->retries, 5);
    ck_assert_uint_eq(s->read_timeout_ms, 60000);
    ck_assert_int_eq(s->enabled, 1);
    ck_assert_int_eq(s->backoff.kind, RG_BACKOFF_NONE);

    /* Nested routes come first (services are read before top level). */
    ck_assert_uint_eq(gw.n_routes, 4);
    r = &gw.routes[0];
    ck_assert_str_eq(r->name, "u1");
    ck_assert_uint_eq(r->service, 0);
    ck_assert_uint_eq(r->n_paths, 3);
    ck_assert_str_eq(r->paths[0].path, "/exact");
    ck_assert_int_eq(r->paths[0].exact, 1);
    ck_assert_str_eq(r->paths[1].path, "/a/b/c/");
    ck_assert_int_eq(r->paths[1].exact, 0);
    ck_assert_str_eq(r->paths[2].path, "/~user");
    ck_assert_int_eq(r->strip_path, 0);
    ck_assert_int_eq(r->preserve_host, 1);
    ck_assert_uint_eq(r->connect_timeout_ms, 10);
    ck_assert_uint_eq(r->write_timeout_ms, 20);
    ck_assert_uint_eq(r->read_timeout_ms, 30);
    ck_assert_int_eq(r->retries, 0);
    ck_assert_int_eq(r->has_backoff, 1);
    ck_assert_int_eq(r->backoff.kind, RG_BACKOFF_LINEAR);
    ck_assert_uint_eq(r->backoff.base_ms, 100);
    ck_assert_uint_eq(r->backoff.max_ms, 10000);
    ck_assert_int_eq(r->backoff.jitter, 0);

    r = &gw.routes[1];
    ck_assert_str_eq(r->name, "by-name");
    ck_assert_uint_eq(r->service, 0);
    ck_assert_int_eq(r->strip_path, 1);
    ck_assert_int_eq(r->preserve_host, 0);
    ck_assert_int_eq(r->retries, -1);
    ck_assert_uint_eq(r->connect_timeout_ms, 0);
    ck_assert_int_eq(r->has_backoff, 0);
    r = &gw.routes[2];
    ck_assert_uint_eq(r->service, 0);
    ck_assert_uint_eq(r->n_hosts, 2);
    ck_assert_str_eq(r->hosts[0], "*.example.com");
    ck_assert_str_eq(r->hosts[1], "api.*");
    r = &gw.routes[3];
    ck_assert_ptr_null(r->name);
    ck_assert_uint_eq(r->service, 1);
    ck_assert_uint_eq(r->methods, RG_M_GET | RG_M_DELETE);
    rg_gateway_release(&gw);
}
END_TEST

/* JSON is accepted too (Kong's /config endpoint takes either). */
START_TEST(json_gateway_parses)
{
    static const char json[] =
        "{\"_format_version\": \"3.0\", \"services\": [{\"name\": \"s\", "
        "\"host\": \"h\", \"port\": 81, \"routes\": [{\"paths\": [\"/x\"], "
        "\"strip_path\": false}]}]}";
    struct rg_gateway gw;
    struct rg_errbuf eb;

    ck_assert_msg(parse(&gw, json, &eb) == 0, "%s", eb.msg);
    ck_assert_str_eq(gw.services[0].host, "h");
    ck_assert_uint_eq(gw.services[0].port, 81);
    ck_assert_str_eq(gw.routes[0].paths[0].path, "/x");
    ck_assert_int_eq(gw.routes[0].strip_path, 0);
    rg_gateway_release(&gw);
}
END_TEST

/* A document with only the version has no services or routes. */
START_TEST(empty_gateway_parses)
{
    struct rg_gateway gw;
    struct rg_errbuf eb;

    ck_assert_int_eq(parse(&gw, HDR "services: []\nroutes:\n", &eb), 0);
    ck_assert_uint_eq(gw.n_services, 0);
    ck_assert_uint_eq(gw.n_routes, 0);
    rg_gateway_release(&gw);
}
END_TEST

START_TEST(method_bits)
{
    ck_assert_uint_eq(rg_method_bit("GET", 3), RG_M_GET);
    ck_assert_uint_eq(rg_method_bit("CONNECT", 7), RG_M_CONNECT);
    ck_assert_uint_eq(rg_method_bit("GETX", 3), RG_M_GET);
    ck_assert_uint_eq(rg_method_bit("get", 3), 0);
    ck_assert_uint_eq(rg_method_bit("BREW", 4), 0);
    ck_assert_uint_eq(rg_method_bit("", 0), 0);
}
END_TEST

/* Releasing a zeroed gateway is a no-op, and twice is harmless. */
START_TEST(release_zeroed)
{
    struct rg_gateway gw;
    struct rg_node_conf nc;

    memset(&gw, 0, sizeof(gw));
    rg_gateway_release(&gw);
    rg_gateway_release(&gw);
    memset(&nc, 0, sizeof(nc));
    rg_node_conf_release(&nc);
    rg_node_conf_release(&nc);
}
END_TEST

/* ---- Each validation error names the path, exactly ---- */

struct error_case {
    const char *yaml;
    const char *msg;
};

static const struct error_case gateway_errors[] = {
    /* 0: unknown key */
    {SVC "  foo: 1\n", "services[0].foo: unknown key (line 5)"},
    /* 1: bad _format_version */
    {"_format_version: \"2.1\"\n",
     "_format_version: unsupported version \"2.1\" (must be \"3.0\") "
     "(line 1)"},
    /* 2: missing _format_version */
    {"services: []\n", "_format_version: missing (must be \"3.0\")"},
    /* 3: path without "/" */
    {SVC "  routes:\n  - paths: [/a, b]\n",
     "services[0].routes[0].paths[1]: must start with \"/\" (line 6)"},
    /* 4: regex path */
    {SVC "  routes:\n  - paths: [\"~/a$\"]\n",
     "services[0].routes[0].paths[0]: regex paths are not supported "
     "(line 6)"},
    /* 5: duplicate service name */
    {SVC "- name: a\n  host: h\n",
     "services[1].name: duplicate service name \"a\" (line 5)"},
    /* 6: duplicate route name across nested and top level */
    {SVC "  routes:\n  - {name: r, paths: [/a]}\n"
         "routes:\n- {name: r, service: a, paths: [/b]}\n",
     "routes[0].name: duplicate route name \"r\" (line 8)"},
    /* 7: unknown service reference */
    {SVC "routes:\n- service: nope\n  paths: [/x]\n",
     "routes[0].service: no service with name or id \"nope\" (line 6)"},
    /* 8: unknown service reference by id */
    {SVC "routes:\n- service: {id: 00000000-0000-0000-0000-000000000000}\n"
         "  paths: [/x]\n",
     "routes[0].service: no service with id "
     "\"00000000-0000-0000-0000-000000000000\" (line 6)"},
    /* 9: bad method */
    {SVC "  routes:\n  - methods: [GET, FETCH]\n",
     "services[0].routes[0].methods[1]: unknown method \"FETCH\" (line 6)"},
    /* 10: a url scheme other than http or https */
    {HDR "services:\n- url: ftp://x\n",
     "services[0].url: unsupported scheme \"ftp\" (http or https) (line 3)"},
    /* 11: url without a scheme */
    {HDR "services:\n- url: 10.0.0.1:80\n",
     "services[0].url: must be a URL like http://host[:port][/path] "
     "(line 3)"},
    /* 12: url with a bad port */
    {HDR "services:\n- url: http://h:99999/\n",
     "services[0].url: has an invalid port (line 3)"},
    /* 13: timeout below range */
    {SVC "  read_timeout: 0\n",
     "services[0].read_timeout: must be an integer in 1..2147483646 "
     "(line 5)"},
    /* 14: timeout above range on a route */
    {SVC "  routes:\n  - paths: [/]\n    connect_timeout: 2147483647\n",
     "services[0].routes[0].connect_timeout: must be an integer in "
     "1..2147483646 (line 7)"},
    /* 15: port out of range */
    {HDR "services:\n- host: h\n  port: 65536\n",
     "services[0].port: must be an integer in 0..65535 (line 4)"},
    /* 16: route without matchers */
    {SVC "  routes:\n  - name: r\n    strip_path: true\n",
     "services[0].routes[0]: needs at least one of paths, hosts, methods "
     "(line 6)"},
    /* 17: a plugin the catalog lacks (tests/unit/test_plugins.c has the
     * plugin cases) */
    {HDR "plugins:\n- name: cors\n",
     "plugins[0].name: unknown plugin \"cors\" (this build has no plugins) "
     "(line 3)"},
    /* 18: a consumer without a username or custom_id */
    {HDR "consumers: [{tags: [a]}]\n",
     "consumers[0]: needs a username or a custom_id (line 2)"},
    /* 19: a Kong route key raftgate lacks */
    {SVC "  routes:\n  - paths: [/]\n    headers: {x: [y]}\n",
     "services[0].routes[0].headers: not supported yet (line 7)"},
    /* 20: wildcard in the middle of a host */
    {SVC "  routes:\n  - hosts: [a.*.com]\n",
     "services[0].routes[0].hosts[0]: wildcard \"*\" is allowed only as a "
     "leading \"*.\" or a trailing \".*\" label (line 6)"},
    /* 21: host with a bad character */
    {SVC "  routes:\n  - hosts: [\"a b.com\"]\n",
     "services[0].routes[0].hosts[0]: invalid host name \"a b.com\" "
     "(line 6)"},
    /* 22: retry_backoff with a bad type */
    {SVC "  retry_backoff: {type: fibonacci}\n",
     "services[0].retry_backoff.type: must be none, linear or exponential "
     "(line 5)"},
    /* 23: retry_backoff max below base */
    {SVC "  retry_backoff: {type: linear, base: 500, max: 100}\n",
     "services[0].retry_backoff: max must not be less than base (line 5)"},
    /* 24: url and host together */
    {SVC "  host: b\n",
     "services[0].host: cannot be combined with url (line 5)"},
    /* 25: a nested route naming its service */
    {SVC "  routes:\n  - service: a\n    paths: [/]\n",
     "services[0].routes[0].service: not allowed in a route nested under a "
     "service (line 6)"},
    /* 26: a top-level route without a service */
    {SVC "routes:\n- paths: [/x]\n", "routes[0]: needs a service (line 6)"},
    /* 27: a service without a host */
    {HDR "services:\n- name: s\n  port: 80\n",
     "services[0]: needs a url or a host (line 3)"},
    /* 28: duplicate key */
    {SVC "  retries: 1\n  retries: 2\n",
     "services[0].retries: duplicate key (line 6)"},
    /* 29: retries out of range, quoted */
    {SVC "  retries: \"3\"\n",
     "services[0].retries: must be an integer in 0..32767 (line 5)"},
    /* 30: a path that normalisation rejects */
    {SVC "  routes:\n  - paths: [/a%2Fb]\n",
     "services[0].routes[0].paths[0]: is not a valid path (bad "
     "percent-escape, %2F, %00 or control character) (line 6)"},
    /* 31: "=" not followed by "/" */
    {SVC "  routes:\n  - paths: [\"=a\"]\n",
     "services[0].routes[0].paths[0]: must start with \"/\" (line 6)"},
    /* 32: wrong type for a list */
    {SVC "  routes:\n  - paths: /a\n",
     "services[0].routes[0].paths: must be a list (line 6)"},
    /* 33: YAML syntax error */
    {HDR "services: [\n",
     "YAML syntax error: did not find expected node content "
     "(line 3, column 1)"},
    /* 34: bad name characters */
    {HDR "services:\n- name: \"a b\"\n  host: h\n",
     "services[0].name: must contain only letters, digits, \".\", \"-\", "
     "\"_\" or \"~\" (line 3)"},
    /* 35: the document is not a mapping */
    {"- a\n", "document: must be a mapping (line 1)"},
    /* 36: an empty document */
    {"", "document: is empty"},
    /* 37: a second document */
    {HDR "---\n" HDR, "only one YAML document is allowed"},
    /* 38: a bad id */
    {SVC "  id: 1234\n", "services[0].id: must be a UUID (line 5)"},
    /* 39: a boolean that is not one */
    {SVC "  routes:\n  - paths: [/]\n    strip_path: yes\n",
     "services[0].routes[0].strip_path: must be a boolean (line 7)"},
    /* 40: an unsupported protocol */
    {HDR "services:\n- protocol: grpc\n  host: h\n",
     "services[0].protocol: unsupported protocol \"grpc\" (http or https) "
     "(line 3)"},
    /* 41: a route host with a port */
    {SVC "  routes:\n  - hosts: [\"a.com:80\"]\n",
     "services[0].routes[0].hosts[0]: must not include a port (line 6)"},
    /* 42: the upstream path must start with "/" */
    {HDR "services:\n- host: h\n  path: v1\n",
     "services[0].path: must start with \"/\" (line 4)"},

    /* 43..: upstreams and targets */
    {UPS "  algorithm: latency\n",
     "upstreams[0].algorithm: \"latency\" is not supported (round-robin, "
     "least-connections, consistent-hashing or random) (line 4)"},
    {UPS "  hash_on: cookie\n",
     "upstreams[0].hash_on: \"cookie\" is not supported (none, consumer, "
     "ip, header or path) (line 4)"},
    {UPS "  hash_on: header\n",
     "upstreams[0]: hash_on: header needs hash_on_header (line 3)"},
    {UPS "  targets:\n  - target: \"a:99999\"\n",
     "upstreams[0].targets[0].target: must be \"host[:port]\" (port "
     "1..65535) (line 5)"},
    {UPS "  targets:\n  - target: a\n    weight: 70000\n",
     "upstreams[0].targets[0].weight: must be an integer in 0..65535 "
     "(line 6)"},
    {UPS "  targets:\n  - target: a\n  - target: \"a:8000\"\n",
     "upstreams[0].targets[1]: duplicate target \"a:8000\" in upstream "
     "\"u\" (line 6)"},
    {UPS "  healthchecks:\n    active:\n      type: tcp\n",
     "upstreams[0].healthchecks.active.type: only \"http\" is supported "
     "(line 6)"},
    {UPS "  healthchecks:\n    passive:\n      unhealthy:\n"
         "        http_failures: 300\n",
     "upstreams[0].healthchecks.passive.unhealthy.http_failures: must be an "
     "integer in 0..255 (line 7)"},
    {UPS "  healthchecks:\n    passive:\n      healthy:\n"
         "        interval: 5\n",
     "upstreams[0].healthchecks.passive.healthy.interval: unknown key "
     "(line 7)"},
    {UPS "  healthchecks:\n    active:\n      healthy:\n"
         "        http_statuses: [200, 1000]\n",
     "upstreams[0].healthchecks.active.healthy.http_statuses[1]: must be an "
     "integer in 100..999 (line 7)"},
    {UPS "  healthchecks:\n    active:\n      unhealthy:\n"
         "        interval: -1\n",
     "upstreams[0].healthchecks.active.unhealthy.interval: must be a number "
     "of seconds in 0..65535 (line 7)"},
    {UPS "- name: U\n",
     "upstreams[1].name: duplicate upstream name \"U\" (line 4)"},
    {UPS "targets:\n- target: b\n  upstream: nope\n",
     "targets[0].upstream: no upstream with name or id \"nope\" (line 6)"},
    {UPS "  targets:\n  - target: b\n    upstream: u\n",
     "upstreams[0].targets[0].upstream: not allowed in a target nested under "
     "an upstream (line 6)"},
    {HDR "upstreams:\n- name: \"a b\"\n",
     "upstreams[0].name: must be a host name (letters, digits, \"-\", \"_\" "
     "and dots) (line 3)"},
    /* A PEM that a plain scalar reads as a number or a boolean is not
     * text at all; quoted, the same characters are a string (and no
     * PEM). */
    {HDR "certificates:\n- cert: 5\n  key: k\n",
     "certificates[0].cert: must be a string (line 3)"},
    {HDR "certificates:\n- cert: c\n  key: -1.5e3\n",
     "certificates[0].key: must be a string (line 4)"},
    {HDR "certificates:\n- cert: 0x1F\n  key: k\n",
     "certificates[0].cert: must be a string (line 3)"},
    {HDR "certificates:\n- cert: .inf\n  key: k\n",
     "certificates[0].cert: must be a string (line 3)"},
    {HDR "certificates:\n- cert: True\n  key: k\n",
     "certificates[0].cert: must be a string (line 3)"},
    {HDR "certificates:\n- cert: \"5\"\n  key: k\n",
     "certificates[0].cert: not a PEM certificate (no start line) "
     "(line 3)"},
    {HDR "certificates:\n- cert: 5.x\n  key: k\n",
     "certificates[0].cert: not a PEM certificate (no start line) "
     "(line 3)"},
};

START_TEST(gateway_error_messages)
{
    expect_error(gateway_errors[_i].yaml, gateway_errors[_i].msg);
}
END_TEST

/* Upstreams, nested and top-level targets and healthchecks read as
 * Kong's defaults say. */
START_TEST(upstreams_parse)
{
    static const char yaml[] =
        HDR "upstreams:\n"
        "- name: Backend.Local\n"
        "  algorithm: consistent-hashing\n"
        "  hash_on: header\n"
        "  hash_on_header: X-User\n"
        "  hash_fallback: ip\n"
        "  slots: 100\n"
        "  healthchecks:\n"
        "    active:\n"
        "      http_path: /status\n"
        "      timeout: 0.5\n"
        "      healthy: {interval: 2, successes: 1}\n"
        "      unhealthy: {interval: 1, http_failures: 2, tcp_failures: 1}\n"
        "    passive:\n"
        "      unhealthy: {http_failures: 3, http_statuses: [500]}\n"
        "    threshold: 25\n"
        "  targets:\n"
        "  - target: 127.0.0.1:9001\n"
        "    weight: 300\n"
        "  - target: \"[::1]\"\n"
        "- name: other\n"
        "targets:\n"
        "- target: Host.Example\n"
        "  upstream: other\n"
        "  weight: 0\n";
    struct rg_gateway gw;
    struct rg_errbuf eb;
    const struct rg_upstream *u;

    ck_assert_msg(parse(&gw, yaml, &eb) == 0, "%s", eb.msg);
    ck_assert_uint_eq(gw.n_upstreams, 2);
    ck_assert_uint_eq(gw.n_targets, 3);
    u = &gw.upstreams[0];
    ck_assert_str_eq(u->name, "backend.local");
    ck_assert_int_eq(u->algorithm, RG_LB_HASH);
    ck_assert_int_eq(u->hash_on, RG_HASH_HEADER);
    ck_assert_str_eq(u->hash_on_header, "x-user");
    ck_assert_int_eq(u->hash_fallback, RG_HASH_IP);
    ck_assert_uint_eq(u->slots, 100);
    ck_assert_str_eq(u->hc.active.http_path, "/status");
    ck_assert_uint_eq(u->hc.active.timeout_ms, 500);
    ck_assert_uint_eq(u->hc.active.healthy.interval_ms, 2000);
    ck_assert_uint_eq(u->hc.active.unhealthy.http_failures, 2);
    ck_assert(rg_status_in(&u->hc.active.unhealthy.statuses, 503));
    ck_assert(rg_status_in(&u->hc.passive.unhealthy.statuses, 500));
    ck_assert(!rg_status_in(&u->hc.passive.unhealthy.statuses, 503));
    ck_assert(rg_status_in(&u->hc.passive.healthy.statuses, 308));
    ck_assert_uint_eq(u->hc.passive.unhealthy.http_failures, 3);
    ck_assert(u->hc.threshold == 25);
    ck_assert_int_eq(gw.upstreams[1].algorithm, RG_LB_ROUND_ROBIN);
    ck_assert_uint_eq(gw.upstreams[1].slots, 10000);
    ck_assert_str_eq(gw.targets[0].target, "127.0.0.1:9001");
    ck_assert_uint_eq(gw.targets[0].weight, 300);
    ck_assert_str_eq(gw.targets[1].target, "[::1]:8000");
    ck_assert_str_eq(gw.targets[1].host, "::1");
    ck_assert_uint_eq(gw.targets[1].weight, 100);
    ck_assert_str_eq(gw.targets[2].host, "host.example");
    ck_assert_uint_eq(gw.targets[2].upstream, 1);
    ck_assert_uint_eq(gw.targets[2].weight, 0);
    rg_gateway_release(&gw);
}
END_TEST

/* A long unknown key is cut in the path, never overflowing it. */
START_TEST(long_key_is_clipped)
{
    char yaml[2048];
    char key[1001];

    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    snprintf(yaml, sizeof(yaml), HDR "%s: 1\n", key);
    expect_error(yaml, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...: unknown "
                       "key (line 2)");
}
END_TEST

/* Append @s to @buf (of @cap bytes) at *@n. */
static void put(char *buf, size_t cap, size_t *n, const char *s)
{
    size_t len = strlen(s);

    ck_assert_uint_lt(*n + len, cap);
    memcpy(buf + *n, s, len + 1);
    *n += len;
}

/* Aliases resolve, but a fan-out bomb (k services x k routes x k paths
 * from O(k) nodes) is refused instead of expanded. */
START_TEST(alias_bomb_is_refused)
{
    static char yaml[16384];
    size_t n = 0;
    struct rg_gateway gw;
    struct rg_errbuf eb;
    int k;

    put(yaml, sizeof(yaml), &n,
        HDR "services:\n- &s {host: h, routes: [&r {paths: [/a, /b]}, *r]}\n"
            "- *s\n");
    ck_assert_msg(parse(&gw, yaml, &eb) == 0, "%s", eb.msg);
    ck_assert_uint_eq(gw.n_services, 2);
    ck_assert_uint_eq(gw.n_routes, 4);
    ck_assert_str_eq(gw.routes[3].paths[1].path, "/b");
    ck_assert_uint_eq(gw.routes[3].service, 1);
    rg_gateway_release(&gw);

    n = 0;
    put(yaml, sizeof(yaml), &n,
        HDR "services:\n- &s {host: h, routes: [&r {paths: [/a");
    for (k = 1; k < 64; k++)
        put(yaml, sizeof(yaml), &n, ",/a");
    put(yaml, sizeof(yaml), &n, "]}");
    for (k = 1; k < 64; k++)
        put(yaml, sizeof(yaml), &n, ",*r");
    put(yaml, sizeof(yaml), &n, "]}\n");
    for (k = 1; k < 64; k++)
        put(yaml, sizeof(yaml), &n, "- *s\n");
    ck_assert_int_eq(parse(&gw, yaml, &eb), -EINVAL);
    ck_assert_msg(strstr(eb.msg, ": too many nodes after alias expansion") !=
                      NULL,
                  "%s", eb.msg);
}
END_TEST

/* Loading a missing file names it and returns -ENOENT. */
START_TEST(gateway_load_missing_file)
{
    struct rg_gateway gw;
    struct rg_errbuf eb;

    ck_assert_int_eq(rg_gateway_load(&gw, "/nonexistent/gw.yml", NULL, &eb), -ENOENT);
    ck_assert_str_eq(eb.msg, "/nonexistent/gw.yml: No such file or directory");
}
END_TEST

/* ---- Allocation failures: every one is reported, none crashes or
 * leaks (ASan's leak check runs in the sanitizer build). ---- */

START_TEST(gateway_alloc_failures)
{
    struct rg_gateway gw;
    struct rg_errbuf eb;
    long n;
    int rv = -1;

    for (n = 1; n < 5000; n++) {
        rg_alloc_fail_after(n);
        rv = parse(&gw, full_yaml, &eb);
        rg_alloc_fail_after(0);
        if (rv == 0)
            break;
        ck_assert_int_eq(rv, -ENOMEM);
        ck_assert_str_eq(eb.msg, "out of memory");
        ck_assert_ptr_null(gw.services);
        ck_assert_ptr_null(gw.routes);
    }
    ck_assert_int_eq(rv, 0);
    ck_assert_int_gt(n, 20); /* the walk really allocates */
    ck_assert_uint_eq(gw.n_routes, 4);
    rg_gateway_release(&gw);
}
END_TEST

/* ---- Node config ---- */

static char tmpdir[64];

static void make_tmpdir(void)
{
    strcpy(tmpdir, "/tmp/rg-test-config-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char path[128];

    snprintf(path, sizeof(path), "%s/node.yml", tmpdir);
    unlink(path);
    rmdir(tmpdir);
}

/* Write @yaml to <tmpdir>/node.yml and load it. */
static int load_node(struct rg_node_conf *nc, const char *yaml,
                     struct rg_errbuf *eb)
{
    char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/node.yml", tmpdir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(yaml, f);
    fclose(f);
    return rg_node_conf_load(nc, path, eb);
}

static void check_defaults(const struct rg_node_conf *nc)
{
    ck_assert_str_eq(nc->proxy_listen, "0.0.0.0:8000");
    ck_assert_uint_eq(nc->workers, 0);
    ck_assert_uint_eq(nc->max_connections, 16384);
    ck_assert_uint_eq(nc->header_timeout_ms, 10000);
    ck_assert_uint_eq(nc->idle_timeout_ms, 60000);
    ck_assert_uint_eq(nc->max_header_size, 32768);
    ck_assert_uint_eq(nc->max_body_size, 0);
    ck_assert_uint_eq(nc->upstream_keepalive, 64);
    ck_assert_uint_eq(nc->upstream_keepalive_max, 1024);
    ck_assert_uint_eq(nc->upstream_idle_ms, 60000);
    ck_assert_uint_eq(nc->drain_timeout_ms, 10000);
    ck_assert_str_eq(nc->via, "raftgate");
    ck_assert_str_eq(nc->server, "raftgate");
    ck_assert_str_eq(nc->admin_listen, "127.0.0.1:8001");
    ck_assert_str_eq(nc->status_listen, "127.0.0.1:8100");
    ck_assert_str_eq(nc->error_log, "stderr");
    ck_assert_str_eq(nc->log_level, "info");
    ck_assert_ptr_null(nc->access_log);
}

/* consul: every key, and its defaults. */
START_TEST(node_consul_section)
{
    struct rg_node_conf nc;
    struct rg_errbuf eb;

    make_tmpdir();
    ck_assert_msg(load_node(&nc, "consul:\n  address: https://agent:8501/\n"
                                 "  token: s3cret\n  datacenter: east\n"
                                 "  domain: sd.example\n  wait: 2m\n",
                            &eb) == 0, "%s", eb.msg);
    ck_assert_str_eq(nc.consul_address, "https://agent:8501/");
    ck_assert_str_eq(nc.consul_token, "s3cret");
    ck_assert_str_eq(nc.consul_datacenter, "east");
    ck_assert_str_eq(nc.consul_domain, "sd.example");
    ck_assert_uint_eq(nc.consul_wait_ms, 120000);
    rg_node_conf_release(&nc);
    ck_assert_int_eq(load_node(&nc, "proxy: {}\n", &eb), 0);
    ck_assert_str_eq(nc.consul_address, "http://127.0.0.1:8500");
    ck_assert_str_eq(nc.consul_domain, "consul");
    ck_assert_ptr_null(nc.consul_token);
    ck_assert_ptr_null(nc.consul_datacenter);
    ck_assert_uint_eq(nc.consul_wait_ms, 60000);
    rg_node_conf_release(&nc);
    remove_tmpdir();
}
END_TEST

START_TEST(node_defaults)
{
    struct rg_node_conf nc;

    ck_assert_int_eq(rg_node_conf_defaults(&nc), 0);
    check_defaults(&nc);
    ck_assert_ptr_null(nc.declarative_config);
    rg_node_conf_release(&nc);
    ck_assert_ptr_null(nc.proxy_listen);
}
END_TEST

/* The shipped conf/raftgate.yml spells out the defaults (but listens on
 * loopback, so the Quick start exposes nothing) and points at the demo
 * gateway file beside it. */
START_TEST(default_node_file_parses)
{
    char path[PATH_MAX];
    char want[PATH_MAX];
    struct rg_node_conf nc;
    struct rg_errbuf eb;
    const char *dir = srcdir();

    snprintf(path, sizeof(path), "%s/conf/raftgate.yml", dir);
    ck_assert_msg(rg_node_conf_load(&nc, path, &eb) == 0, "%s", eb.msg);
    ck_assert_str_eq(nc.proxy_listen, "127.0.0.1:8000");
    rg_free(nc.proxy_listen);
    nc.proxy_listen = rg_strdup("0.0.0.0:8000");
    check_defaults(&nc);
    if (dir[0] == '/') {
        snprintf(want, sizeof(want), "%s/conf/gateway.yml", dir);
        ck_assert_str_eq(nc.declarative_config, want);
    }
    ck_assert_int_eq(nc.declarative_config[0], '/');
    ck_assert_int_eq(access(nc.declarative_config, R_OK), 0);
    rg_node_conf_release(&nc);
}
END_TEST

/* An empty file means defaults. */
START_TEST(node_empty_file)
{
    struct rg_node_conf nc;
    struct rg_errbuf eb;

    make_tmpdir();
    ck_assert_int_eq(load_node(&nc, "# nothing\n", &eb), 0);
    check_defaults(&nc);
    rg_node_conf_release(&nc);
    remove_tmpdir();
}
END_TEST

static const char node_full[] = "proxy:\n"
                                "  listen: \"[::1]:9000\"\n"
                                "  workers: 4\n"
                                "  max_connections: 100\n"
                                "  header_timeout: 250ms\n"
                                "  idle_timeout: 2m\n"
                                "  max_header_size: 8k\n"
                                "  max_body_size: 1g\n"
                                "  upstream_keepalive: 0\n"
                                "  upstream_keepalive_max: 9\n"
                                "  upstream_idle_timeout: 1500\n"
                                "  drain_timeout: 0\n"
                                "  via: \"\"\n"
                                "  server: \"raftgate 0.1\"\n"
                                "admin: {listen: \"localhost:1\"}\n"
                                "status: {listen: \"10.1.2.3:65535\"}\n"
                                "log:\n"
                                "  level: debug\n"
                                "  error_log: logs/error.log\n"
                                "  access_log: /var/log/access.log\n"
                                "gateway:\n"
                                "  declarative_config: ../gw.yml\n";

START_TEST(node_full_file)
{
    struct rg_node_conf nc;
    struct rg_errbuf eb;
    char want[128];

    make_tmpdir();
    ck_assert_msg(load_node(&nc, node_full, &eb) == 0, "%s", eb.msg);
    ck_assert_str_eq(nc.proxy_listen, "[::1]:9000");
    ck_assert_uint_eq(nc.workers, 4);
    ck_assert_uint_eq(nc.max_connections, 100);
    ck_assert_uint_eq(nc.header_timeout_ms, 250);
    ck_assert_uint_eq(nc.idle_timeout_ms, 120000);
    ck_assert_uint_eq(nc.max_header_size, 8192);
    ck_assert_uint_eq(nc.max_body_size, 1073741824ull);
    ck_assert_uint_eq(nc.upstream_keepalive, 0);
    ck_assert_uint_eq(nc.upstream_keepalive_max, 9);
    ck_assert_uint_eq(nc.upstream_idle_ms, 1500);
    ck_assert_uint_eq(nc.drain_timeout_ms, 0);
    ck_assert_str_eq(nc.via, "");
    ck_assert_str_eq(nc.server, "raftgate 0.1");
    ck_assert_str_eq(nc.admin_listen, "localhost:1");
    ck_assert_str_eq(nc.status_listen, "10.1.2.3:65535");
    ck_assert_str_eq(nc.log_level, "debug");
    snprintf(want, sizeof(want), "%s/logs/error.log", tmpdir);
    ck_assert_str_eq(nc.error_log, want);
    ck_assert_str_eq(nc.access_log, "/var/log/access.log");
    snprintf(want, sizeof(want), "%s/../gw.yml", tmpdir);
    ck_assert_str_eq(nc.declarative_config, want);
    rg_node_conf_release(&nc);
    remove_tmpdir();
}
END_TEST

/* The start of a cluster-mode file: node 1, then raft keys at line 4. */
#define CLUSTER_HEAD "node: {id: 1, name: n1}\n\nraft:\n"

static const struct error_case node_errors[] = {
    {"proxy:\n  workers: 300\n",
     "proxy.workers: must be an integer in 0..256 (line 2)"},
    {"proxy:\n  trusted_ips: [10.0.0.0/8, 10.0.0.1/8]\n",
     "proxy.trusted_ips[1]: must be an IPv4 or IPv6 address or prefix, such "
     "as 10.0.0.0/8 or 2001:db8::/32, with no host bits set past the prefix "
     "(line 2)"},
    {"proxy:\n  trusted_ips: 10.0.0.0/8\n",
     "proxy.trusted_ips: must be a list (line 2)"},
    {"proxy:\n  upstream_keepalive_max: 0\n",
     "proxy.upstream_keepalive_max: must be an integer in 1..65535 (line 2)"},
    {"proxy:\n  header_timeout: 10x\n",
     "proxy.header_timeout: must be a duration of 1..86400000 ms (an "
     "integer in ms, or like \"250ms\", \"10s\", \"2m\") (line 2)"},
    {"proxy:\n  idle_timeout: 0\n",
     "proxy.idle_timeout: must be a duration of 1..86400000 ms (an "
     "integer in ms, or like \"250ms\", \"10s\", \"2m\") (line 2)"},
    {"proxy:\n  drain_timeout: 25h\n",
     "proxy.drain_timeout: must be a duration of 0..86400000 ms (an "
     "integer in ms, or like \"250ms\", \"10s\", \"2m\") (line 2)"},
    {"proxy:\n  max_body_size: 5t\n",
     "proxy.max_body_size: must be a size of 0..1099511627776 bytes (an "
     "integer, or like \"32k\", \"8m\", \"1g\") (line 2)"},
    {"proxy:\n  max_header_size: 512\n",
     "proxy.max_header_size: must be a size of 1024..1048576 bytes (an "
     "integer, or like \"32k\", \"8m\", \"1g\") (line 2)"},
    {"proxy:\n  max_body_size: 999999999999g\n",
     "proxy.max_body_size: must be a size of 0..1099511627776 bytes (an "
     "integer, or like \"32k\", \"8m\", \"1g\") (line 2)"},
    {"proxy:\n  bogus: 1\n", "proxy.bogus: unknown key (line 2)"},
    {"cluster: {}\n", "cluster: unknown key (line 1)"},
    {"proxy:\n  listen: \"example.com:80\"\n",
     "proxy.listen: must be \"host:port\" with an IPv4 address, "
     "\"localhost\" or \"[IPv6]\" and a port in 1..65535 (line 2)"},
    {"admin:\n  listen: \"127.0.0.1:0\"\n",
     "admin.listen: must be \"host:port\" with an IPv4 address, "
     "\"localhost\" or \"[IPv6]\" and a port in 1..65535 (line 2)"},
    {"log:\n  level: verbose\n",
     "log.level: must be one of error, warn, notice, info, debug (line 2)"},
    {"log:\n  access_log: \"\"\n",
     "log.access_log: must not be empty (line 2)"},
    {"proxy:\n  via: \"a b\"\n",
     "proxy.via: must be an HTTP token of at most 64 characters, or \"\" "
     "for none (line 2)"},
    {"proxy: 8000\n", "proxy: must be a mapping (line 1)"},
    {"node:\n  id: 0\n",
     "node.id: must be an integer in 1..9223372036854775807 (line 2)"},
    {"node:\n  name: \"a b\"\n",
     "node.name: must be 1..64 letters, digits, '.', '_' or '-' (line 2)"},
    {"admin:\n  token: \"two words\"\n",
     "admin.token: must be 1..256 printable ASCII characters without "
     "spaces (line 2)"},
    {"admin:\n  token: \"\"\n",
     "admin.token: must be 1..256 printable ASCII characters without "
     "spaces (line 2)"},
    {CLUSTER_HEAD "  listen: \"[::1]:9001\"\n",
     "raft.listen: must be \"host:port\" with an IPv4 address or a host "
     "name and a port in 1..65535 (line 4)"},
    {"raft:\n  voters: [{id: 1, address: \"127.0.0.1:9001\"}]\n"
     "  listen: \"127.0.0.1:9001\"\n",
     "raft: node.id is required in cluster mode (line 2)"},
    {CLUSTER_HEAD "  voters: [{id: 1, address: \"127.0.0.1:9001\"}]\n",
     "raft: listen is required (line 4)"},
    {CLUSTER_HEAD "  listen: \"127.0.0.1:9001\"\n",
     "raft: voters is required unless join is true (line 4)"},
    {CLUSTER_HEAD "  listen: \"127.0.0.1:9001\"\n"
     "  voters: [{id: 2, address: \"127.0.0.1:9002\"}]\n",
     "raft.voters: must list this node (id 1) with the address in "
     "raft.listen (\"127.0.0.1:9001\") (line 5)"},
    {CLUSTER_HEAD "  listen: \"127.0.0.1:9001\"\n"
     "  voters: [{id: 1, address: \"127.0.0.1:9009\"}]\n",
     "raft.voters: must list this node (id 1) with the address in "
     "raft.listen (\"127.0.0.1:9001\") (line 5)"},
    {CLUSTER_HEAD "  voters:\n"
     "    - {id: 1, address: \"127.0.0.1:9001\"}\n"
     "    - {id: 1, address: \"127.0.0.1:9002\"}\n",
     "raft.voters[1].id: duplicate id 1 (also voters[0]) (line 6)"},
    {CLUSTER_HEAD "  voters:\n"
     "    - {id: 1, address: \"127.0.0.1:9001\"}\n"
     "    - {id: 2, address: \"127.0.0.1:9001\"}\n",
     "raft.voters[1].address: duplicate address (also voters[0]) (line 6)"},
    {CLUSTER_HEAD "  voters:\n    - {id: 2}\n",
     "raft.voters[0]: address is required (line 5)"},
    {CLUSTER_HEAD "  voters:\n    - {id: 2, address: \"h_x:1\"}\n",
     "raft.voters[0].address: must be \"host:port\" with an IPv4 address "
     "or a host name and a port in 1..65535 (line 5)"},
    {CLUSTER_HEAD "  voters: {id: 1}\n",
     "raft.voters: must be a list (line 4)"},
    {CLUSTER_HEAD "  heartbeat_timeout: 1s\n  join: true\n"
     "  listen: \"127.0.0.1:9001\"\n",
     "raft: heartbeat_timeout (1000 ms) must be less than "
     "election_timeout (1000 ms) (line 4)"},
    {CLUSTER_HEAD "  election_timeout: 5ms\n",
     "raft.election_timeout: must be a duration of 10..86400000 ms (an "
     "integer in ms, or like \"250ms\", \"10s\", \"2m\") (line 4)"},
    {CLUSTER_HEAD "  snapshot_threshold: 8\n",
     "raft.snapshot_threshold: must be an integer in 16..2147483647 "
     "(line 4)"},
    {CLUSTER_HEAD "  join: maybe\n",
     "raft.join: must be a boolean (line 4)"},
    {"consul:\n  address: 127.0.0.1:8500\n",
     "consul.address: must be an http:// or https:// URL of the agent, "
     "like \"http://127.0.0.1:8500\" (line 2)"},
    {"consul:\n  address: http://127.0.0.1:8500/v1\n",
     "consul.address: must be an http:// or https:// URL of the agent, "
     "like \"http://127.0.0.1:8500\" (line 2)"},
    {"consul:\n  wait: 11m\n",
     "consul.wait: must be at most 10m (Consul's limit) (line 2)"},
    {"consul:\n  wait: 10ms\n",
     "consul.wait: must be a duration of 1000..86400000 ms (an integer "
     "in ms, or like \"250ms\", \"10s\", \"2m\") (line 2)"},
    {"consul:\n  datacenter: dc.1\n",
     "consul.datacenter: must be one DNS label of [A-Za-z0-9_-] (line 2)"},
    {"consul:\n  domain: \"sd..example\"\n",
     "consul.domain: must be DNS labels of [A-Za-z0-9_-] joined by dots "
     "(line 2)"},
    {"consul:\n  token: \"a b\"\n",
     "consul.token: must be 1..256 printable ASCII characters without "
     "spaces (line 2)"},
    {"consul:\n  tag: x\n", "consul.tag: unknown key (line 2)"},
};

/* Node errors are prefixed with the file's path. */
START_TEST(node_error_messages)
{
    struct rg_node_conf nc;
    struct rg_errbuf eb;
    char want[RG_ERRBUF_SIZE];

    make_tmpdir();
    ck_assert_int_eq(load_node(&nc, node_errors[_i].yaml, &eb), -EINVAL);
    snprintf(want, sizeof(want), "%s/node.yml: %s", tmpdir,
             node_errors[_i].msg);
    ck_assert_str_eq(eb.msg, want);
    ck_assert_ptr_null(nc.proxy_listen);
    ck_assert_ptr_null(nc.log_level);
    remove_tmpdir();
}
END_TEST

/* auth: raft.cluster_key_file is read at load: too short or missing is an
 * error naming the key and the file; 32 bytes load. */
static void write_key(size_t n)
{
    char path[160];
    FILE *f;

    snprintf(path, sizeof(path), "%s/k", tmpdir);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < n; i++)
        fputc((int)i, f);
    fclose(f);
}

START_TEST(node_cluster_key_file)
{
    static const char yaml[] = "node:\n  id: 1\nraft:\n"
                               "  listen: \"127.0.0.1:9000\"\n"
                               "  join: true\n  cluster_key_file: k\n";
    struct rg_node_conf nc;
    struct rg_errbuf eb;
    char want[RG_ERRBUF_SIZE], path[160];

    make_tmpdir();
    snprintf(path, sizeof(path), "%s/k", tmpdir);
    ck_assert_int_eq(load_node(&nc, yaml, &eb), -EINVAL);
    snprintf(want, sizeof(want),
             "%s/node.yml: raft.cluster_key_file: %s: No such file or "
             "directory (line 6)",
             tmpdir, path);
    ck_assert_str_eq(eb.msg, want);
    write_key(31);
    ck_assert_int_eq(load_node(&nc, yaml, &eb), -EINVAL);
    snprintf(want, sizeof(want),
             "%s/node.yml: raft.cluster_key_file: %s must hold 32..4096 "
             "bytes of secret (make one with: head -c 32 /dev/urandom > "
             "FILE) (line 6)",
             tmpdir, path);
    ck_assert_str_eq(eb.msg, want);
    write_key(32);
    ck_assert_msg(load_node(&nc, yaml, &eb) == 0, "%s", eb.msg);
    ck_assert_str_eq(nc.raft_cluster_key_file, path);
    ck_assert_uint_eq(nc.raft_cluster_key_len, 32);
    ck_assert_uint_eq(nc.raft_cluster_key[31], 31);
    rg_node_conf_release(&nc);
    unlink(path);
    remove_tmpdir();
}
END_TEST

START_TEST(node_missing_file)
{
    struct rg_node_conf nc;
    struct rg_errbuf eb;

    ck_assert_int_eq(rg_node_conf_load(&nc, "/nonexistent/n.yml", &eb),
                     -ENOENT);
    ck_assert_str_eq(eb.msg, "/nonexistent/n.yml: No such file or directory");
    ck_assert_ptr_null(nc.proxy_listen);
}
END_TEST

START_TEST(node_alloc_failures)
{
    struct rg_node_conf nc;
    struct rg_errbuf eb;
    long n;
    int rv = -1;

    make_tmpdir();
    for (n = 1; n < 1000; n++) {
        rg_alloc_fail_after(n);
        rv = load_node(&nc, node_full, &eb);
        rg_alloc_fail_after(0);
        if (rv == 0)
            break;
        ck_assert_int_eq(rv, -ENOMEM);
        ck_assert_ptr_null(nc.proxy_listen);
    }
    ck_assert_int_eq(rv, 0);
    ck_assert_int_gt(n, 10);
    ck_assert_uint_eq(nc.workers, 4);
    rg_node_conf_release(&nc);
    remove_tmpdir();
}
END_TEST

/* A three-voter cluster file: every raft key, a relative data dir joined
 * to the file's folder, the voters in order, the admin token. */
static const char node_cluster[] =
    "node:\n"
    "  id: 2\n"
    "  name: node-2\n"
    "raft:\n"
    "  listen: \"127.0.0.1:9002\"\n"
    "  data_dir: data/n2\n"
    "  voters:\n"
    "    - {id: 1, address: \"127.0.0.1:9001\"}\n"
    "    - {id: 2, address: \"127.0.0.1:9002\"}\n"
    "    - {id: 3, address: \"raft3.example:9003\"}\n"
    "  election_timeout: 2s\n"
    "  heartbeat_timeout: 200ms\n"
    "  snapshot_threshold: 100000\n"
    "admin:\n"
    "  listen: \"127.0.0.1:8002\"\n"
    "  token: s3cr3t-T0ken\n";

START_TEST(node_cluster_file)
{
    struct rg_node_conf nc;
    struct rg_errbuf eb;
    char want[128];

    make_tmpdir();
    ck_assert_msg(load_node(&nc, node_cluster, &eb) == 0, "%s", eb.msg);
    ck_assert_int_eq(nc.cluster, 1);
    ck_assert_uint_eq(nc.node_id, 2);
    ck_assert_str_eq(nc.node_name, "node-2");
    ck_assert_str_eq(nc.raft_listen, "127.0.0.1:9002");
    snprintf(want, sizeof(want), "%s/data/n2", tmpdir);
    ck_assert_str_eq(nc.raft_data_dir, want);
    ck_assert_uint_eq(nc.raft_n_voters, 3);
    ck_assert_uint_eq(nc.raft_voters[0].id, 1);
    ck_assert_str_eq(nc.raft_voters[0].address, "127.0.0.1:9001");
    ck_assert_uint_eq(nc.raft_voters[2].id, 3);
    ck_assert_str_eq(nc.raft_voters[2].address, "raft3.example:9003");
    ck_assert_int_eq(nc.raft_join, 0);
    ck_assert_uint_eq(nc.raft_election_ms, 2000);
    ck_assert_uint_eq(nc.raft_heartbeat_ms, 200);
    ck_assert_uint_eq(nc.raft_snapshot_threshold, 100000);
    ck_assert_str_eq(nc.admin_token, "s3cr3t-T0ken");
    rg_node_conf_release(&nc);
    ck_assert_ptr_null(nc.raft_voters);
    remove_tmpdir();
}
END_TEST

/* Without raft: the node runs single-node: cluster off, raft defaults in
 * place, no token (no auth). A joining node needs no voters and gets the
 * default data dir and timings. */
START_TEST(node_cluster_defaults)
{
    struct rg_node_conf nc;
    struct rg_errbuf eb;

    make_tmpdir();
    ck_assert_int_eq(load_node(&nc, "node: {id: 7}\n", &eb), 0);
    ck_assert_int_eq(nc.cluster, 0);
    ck_assert_uint_eq(nc.node_id, 7);
    ck_assert_ptr_null(nc.admin_token);
    ck_assert_ptr_null(nc.node_name);
    rg_node_conf_release(&nc);
    ck_assert_msg(load_node(&nc,
                            "node: {id: 4}\n"
                            "raft: {listen: \"10.0.0.14:9000\", join: true}\n",
                            &eb) == 0,
                  "%s", eb.msg);
    ck_assert_int_eq(nc.cluster, 1);
    ck_assert_int_eq(nc.raft_join, 1);
    ck_assert_uint_eq(nc.raft_n_voters, 0);
    ck_assert_str_eq(nc.raft_data_dir, "/var/lib/raftgate");
    ck_assert_uint_eq(nc.raft_election_ms, 1000);
    ck_assert_uint_eq(nc.raft_heartbeat_ms, 100);
    ck_assert_uint_eq(nc.raft_snapshot_threshold, 8192);
    rg_node_conf_release(&nc);
    remove_tmpdir();
}
END_TEST

/* Every allocation failure in a cluster file is -ENOMEM with nothing
 * leaked or half-filled. */
START_TEST(node_cluster_alloc_failures)
{
    struct rg_node_conf nc;
    struct rg_errbuf eb;
    long n;
    int rv = -1;

    make_tmpdir();
    for (n = 1; n < 1000; n++) {
        rg_alloc_fail_after(n);
        rv = load_node(&nc, node_cluster, &eb);
        rg_alloc_fail_after(0);
        if (rv == 0)
            break;
        ck_assert_int_eq(rv, -ENOMEM);
        ck_assert_ptr_null(nc.raft_voters);
    }
    ck_assert_int_eq(rv, 0);
    ck_assert_uint_eq(nc.raft_n_voters, 3);
    rg_node_conf_release(&nc);
    remove_tmpdir();
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *gw = tcase_create("gateway");
    TCase *errs = tcase_create("gateway_errors");
    TCase *node = tcase_create("node");

    tcase_add_test(gw, default_gateway_file_parses);
    tcase_add_test(gw, full_gateway_parses);
    tcase_add_test(gw, json_gateway_parses);
    tcase_add_test(gw, empty_gateway_parses);
    tcase_add_test(gw, method_bits);
    tcase_add_test(gw, release_zeroed);
    tcase_add_test(gw, long_key_is_clipped);
    tcase_add_test(gw, upstreams_parse);
    tcase_add_test(gw, alias_bomb_is_refused);
    tcase_add_test(gw, gateway_load_missing_file);
    tcase_add_test(gw, gateway_alloc_failures);
    tcase_add_loop_test(
        errs, gateway_error_messages, 0,
        (int)(sizeof(gateway_errors) / sizeof(gateway_errors[0])));
    tcase_add_test(node, node_defaults);
    tcase_add_test(node, node_consul_section);
    tcase_add_test(node, default_node_file_parses);
    tcase_add_test(node, node_empty_file);
    tcase_add_test(node, node_full_file);
    tcase_add_test(node, node_cluster_key_file);
    tcase_add_loop_test(node, node_error_messages, 0,
                        (int)(sizeof(node_errors) / sizeof(node_errors[0])));
    tcase_add_test(node, node_missing_file);
    tcase_add_test(node, node_alloc_failures);
    tcase_add_test(node, node_cluster_file);
    tcase_add_test(node, node_cluster_defaults);
    tcase_add_test(node, node_cluster_alloc_failures);
    suite_add_tcase(s, gw);
    suite_add_tcase(s, errs);
    suite_add_tcase(s, node);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    int nf;

    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
