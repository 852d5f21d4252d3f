/* Config readers the plugins share: lists of names (key names, groups,
 * roles, token locations), the realm of a WWW-Authenticate challenge and
 * the message of a refusal.
 * Each reports errors at the node's path (config/yamltree.h), so a bad
 * item reads "plugins[0].config.allow[2]: must not be empty". Thread:
 * any (config parsing). */
#ifndef RG_PLUGINS_CONF_READ_H
#define RG_PLUGINS_CONF_READ_H

#include <stddef.h>

#include "config/yamltree.h"
#include "core/err.h"

#define RG_NAME_LEN_MAX 256 /* bytes of a name */

/* What a name may hold besides its 1 to RG_NAME_LEN_MAX bytes. */
enum rg_name_rule {
    RG_NAME_ANY = 0,
    RG_NAME_HEADER, /* an HTTP header name (RFC 9110 token) */
    RG_NAME_WORD,   /* printable ASCII without blanks, quotes or
                       backslashes (it may go into a reply body) */
    RG_NAME_METHOD, /* an HTTP method name: A to Z */
};

struct rg_names {
    char **v;       /* owned, each owned */
    size_t n;
};

/* Read scalar @n as a name under @rule into *@out (replacing what it
 * held). 0 or an rg_yt error. */
int rg_name_read(struct rg_yt *t, yaml_node_t *n, enum rg_name_rule rule,
                 char **out) RG_MUST_CHECK;

/* Read sequence @v into @l (replacing what it held): at most @max names
 * under @rule; @what names the items in the error ("at most 16 key
 * names"). An empty sequence is an empty list. */
int rg_names_read(struct rg_yt *t, yaml_node_t *v, struct rg_names *l,
                  size_t max, enum rg_name_rule rule, const char *what)
    RG_MUST_CHECK;

/* Set @l to the one name @s. 0 or -ENOMEM. */
int rg_names_set1(struct rg_names *l, const char *s) RG_MUST_CHECK;

void rg_names_free(struct rg_names *l);

/* Kong's `realm`: scalar @v (printable, no quotes or backslashes) as the
 * challenge `<scheme> realm="<v>"` in *@www_auth (replacing it). */
int rg_realm_read(struct rg_yt *t, yaml_node_t *v, const char *scheme,
                  char **www_auth) RG_MUST_CHECK;

#define RG_MESSAGE_MAX 512 /* bytes of a configured reply message */

/* {"message":"<s>"} for @len bytes at @s, escaped for JSON, in memory
 * the caller frees with rg_free; NULL on ENOMEM. */
char *rg_message_body(const char *s, size_t len);

/* Read scalar @v (at most RG_MESSAGE_MAX bytes) as such a body into
 * *@body (replacing what it held). 0 or an rg_yt error. */
int rg_message_read(struct rg_yt *t, yaml_node_t *v, char **body)
    RG_MUST_CHECK;

#endif
