/* libFuzzer target for Consul's answer decoder and name parser
 * (src/upstream/consul_name.c): any bytes as a /v1/health/service answer,
 * and as a host name. A decoded answer holds at most the room given, each
 * an IPv4 or IPv6 address with a port in 1..65535, sorted without
 * duplicates; a parsed name has a service label and only label
 * characters. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upstream/consul.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t port_of(const struct sockaddr_storage *a)
{
    return a->ss_family == AF_INET
               ? ((const struct sockaddr_in *)a)->sin_port
               : ((const struct sockaddr_in6 *)a)->sin6_port;
}

static void check_name(const uint8_t *data, size_t size)
{
    struct rg_consul_name nm;
    char host[300];
    size_t hl = size < sizeof(host) - 1 ? size : sizeof(host) - 1;

    memcpy(host, data, hl);
    host[hl] = '\0';
    if (rg_consul_name_parse(host, NULL, &nm) != 1)
        return;
    if (nm.service[0] == '\0' ||
        strspn(nm.service, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"
                           "WXYZ0123456789-_") != strlen(nm.service))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_storage out[8];
    size_t n = 99, skipped = 99;
    size_t max = size % 9; /* room for 0..8, varied by the input */

    check_name(data, size);
    if (rg_consul_decode((const char *)data, size, out, max, &n, &skipped) !=
        0) {
        if (n != 0)
            abort();
        return 0;
    }
    if (n > max)
        abort();
    for (size_t i = 0; i < n; i++) {
        if ((out[i].ss_family != AF_INET && out[i].ss_family != AF_INET6) ||
            port_of(&out[i]) == 0)
            abort();
        if (i > 0 && memcmp(&out[i - 1], &out[i], sizeof(out[i])) == 0)
            abort();
    }
    return 0;
}
