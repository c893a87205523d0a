#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ttp_status {
  ttp_status_code code;
  int is_static;
  char* message;
};

/* Returned when a status itself cannot be allocated. Freeing it is a no-op. */
static ttp_status oom_status = {TTP_OUT_OF_MEMORY, 1, "out of memory"};

static char* vformat(const char* fmt, va_list ap) {
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(NULL, 0, fmt, copy);
  va_end(copy);
  if (n < 0) return NULL;
  char* s = malloc((size_t)n + 1);
  if (s) vsnprintf(s, (size_t)n + 1, fmt, ap);
  return s;
}

ttp_status* ttp_make_status(ttp_status_code code, const char* fmt, ...) {
  ttp_status* st = malloc(sizeof *st);
  if (!st) return &oom_status;
  va_list ap;
  va_start(ap, fmt);
  st->message = vformat(fmt, ap);
  va_end(ap);
  if (!st->message) {
    free(st);
    return &oom_status;
  }
  st->code = code;
  st->is_static = 0;
  return st;
}

ttp_status* ttp_annotate(ttp_status* st, const char* fmt, ...) {
  if (!st || st->is_static) return st;
  va_list ap;
  va_start(ap, fmt);
  char* prefix = vformat(fmt, ap);
  va_end(ap);
  if (!prefix) return st;
  size_t n = strlen(prefix) + 2 + strlen(st->message) + 1;
  char* joined = malloc(n);
  if (joined) {
    snprintf(joined, n, "%s: %s", prefix, st->message);
    free(st->message);
    st->message = joined;
  }
  free(prefix);
  return st;
}

ttp_status_code ttp_status_get_code(const ttp_status* st) { return st ? st->code : TTP_OK; }

const char* ttp_status_message(const ttp_status* st) { return st ? st->message : "OK"; }

void ttp_status_free(ttp_status* st) {
  if (!st || st->is_static) return;
  free(st->message);
  free(st);
}

const char* ttp_runtime_version(void) { return TTP_RUNTIME_VERSION; }
