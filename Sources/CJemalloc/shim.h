// jemalloc is linked as the process allocator of `dynamo-cache`; Debian builds it without a symbol prefix,
// so linking it replaces malloc/free, and `mallctl` reads its statistics.
#include <jemalloc/jemalloc.h>
