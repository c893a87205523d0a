/* Choosing the micro-kernels of the cpu device (cpu_isa.c). */
#ifndef TTP_CPU_ISA_H_
#define TTP_CPU_ISA_H_

#include "../../status.h"
#include "gemm_ukernel.h"

/* The best ISA this CPU and build support, or `forced` ("portable", "avx2",
   "avx512"; NULL or "" for none), refused with a clear message when the CPU
   lacks it. */
ttp_status* ttp_cpu_isa_select(const char* forced, const ttp_cpu_isa** out);

#endif /* TTP_CPU_ISA_H_ */
