#pragma once
// Local invariants: a violation means this node's own state is corrupt, and continuing could corrupt a replica,
// so it aborts. Never used on anything a peer sent (that is validated and dropped instead).
#include <cstdio>
#include <cstdlib>

#define BENTO_RAFT_INVARIANT(cond, what)                                                                  \
  do {                                                                                                    \
    if (!(cond)) {                                                                                        \
      std::fprintf(stderr, "{\"event\":\"raft.invariant_violated\",\"what\":\"%s\",\"at\":\"%s:%d\"}\n", \
                   what, __FILE__, __LINE__);                                                             \
      std::abort();                                                                                       \
    }                                                                                                     \
  } while (false)
