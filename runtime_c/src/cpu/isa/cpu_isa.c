/* Which micro-kernels the cpu device uses: the widest the CPU (and the OS,
 * which must save the wider registers) supports, unless TTPACK_CPU_ISA
 * names one, which is how tests cover every path on one machine. Built with
 * the baseline flags: it only asks cpuid, through the compiler's
 * __builtin_cpu_supports (which checks the OS's XSAVE state as well). */
#include "cpu_isa.h"

#include <stdlib.h>
#include <string.h>

#include "../../status.h"

/* Only x86 builds with a compiler that has the flags define these (CMakeLists.txt). */
#if defined(TTP_HAVE_AVX2)
static int has_avx2(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

#if defined(TTP_HAVE_AVX512)
static int has_avx512(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
}
#endif

ttp_status* ttp_cpu_isa_select(const char* forced, const ttp_cpu_isa** out) {
  const ttp_cpu_isa* best = &ttp_cpu_isa_portable;
#if defined(TTP_HAVE_AVX2)
  if (has_avx2()) best = &ttp_cpu_isa_avx2;
#endif
#if defined(TTP_HAVE_AVX512)
  if (has_avx512()) best = &ttp_cpu_isa_avx512;
#endif
  *out = best;
  if (!forced || !forced[0]) return NULL;
  if (strcmp(forced, "portable") == 0) {
    *out = &ttp_cpu_isa_portable;
    return NULL;
  }
  int known = strcmp(forced, "avx2") == 0 || strcmp(forced, "avx512") == 0;
  if (!known)
    return ttp_make_status(TTP_INVALID_ARGUMENT, "TTPACK_CPU_ISA=%s is not an instruction set the cpu device knows; "
                           "use portable, avx2 or avx512 (or unset it for the best this CPU has)", forced);
#if defined(TTP_HAVE_AVX2)
  if (strcmp(forced, "avx2") == 0 && has_avx2()) {
    *out = &ttp_cpu_isa_avx2;
    return NULL;
  }
#endif
#if defined(TTP_HAVE_AVX512)
  if (strcmp(forced, "avx512") == 0 && has_avx512()) {
    *out = &ttp_cpu_isa_avx512;
    return NULL;
  }
#endif
  return ttp_make_status(TTP_UNSUPPORTED, "TTPACK_CPU_ISA=%s, but this CPU or this build of the runtime lacks it "
                         "(the best here is %s); unset it or pick portable", forced, best->name);
}
