/* Links between config objects: every rule of the config validator that
 * looks at more than one object, declared as data (one table, in
 * src/config/gw_xref.c). The validator enforces each rule from its entry;
 * the state machine (raft/fsm_near.c) reads the same entries to gather,
 * for a change to one object, the objects its verdict depends on, and runs
 * the validator on those alone instead of on the whole config.
 *
 * For that to give the whole config's verdict, the rules must keep two
 * properties, and a new rule that cannot must first become a new link
 * type here (and raft/fsm_near.c learn it):
 * - closed under subsets: a subset of a valid config that holds every
 *   object a kept object references (RG_XREF_REF, followed to the end) is
 *   valid;
 * - a reference depends on the identity of what it names (the fields of
 *   its RG_XREF_UNIQUE links), nothing else of it.
 * tests/unit/test_fsm.c checks on generated workloads that the two
 * verdicts agree.
 *
 * Values compare as text: a string as itself, any other scalar as JSON
 * writes it (the validator reads a JSON document as YAML scalars), with
 * or without ASCII case (@fold). Pure data: no function here. */
#ifndef RG_CORE_XREF_H
#define RG_CORE_XREF_H

enum rg_xref_type {
    /* No two objects of @kind have the same @field. */
    RG_XREF_UNIQUE,
    /* Objects of @kind with the same @field are checked together: a rule
     * among them reaches other fields (one plugin of a type per scope). */
    RG_XREF_GROUP,
    /* @field names one object of @target: a bare text that is its "id"
     * or its @by, or a mapping {"id": text} or {@by: text}. A field that
     * holds a list of such (services.ca_certificates) is irregular to the
     * store's index (raft/fsm_keys.c): while an object holds one, changes
     * are checked on the whole config, not the neighbourhood. */
    RG_XREF_REF,
};

struct rg_xref {
    const char *kind;   /* the kind's list in a document: "routes" */
    const char *field;  /* a top-level member of its objects: "service" */
    enum rg_xref_type type;
    int fold;           /* UNIQUE, GROUP: compare without ASCII case */
    const char *target; /* REF: the list of the objects it names */
    const char *by;     /* REF: the target's field named besides "id" */
    const char *what;   /* for messages: "service name", "service" */
};

#endif
