/* A persistent pool of worker threads, one per cpu device (thread_pool.c).
 * ttp_thread_pool_run hands out tasks 0..n-1 to the caller and the workers
 * and returns when all are done. Which thread runs a task varies from run to
 * run, so a task must compute the same result on any thread: tasks write
 * disjoint outputs and use only the scratch of the thread running them. */
#ifndef TTP_CPU_THREAD_POOL_H_
#define TTP_CPU_THREAD_POOL_H_

#include <stdint.h>

#include "../status.h"

typedef struct ttp_thread_pool ttp_thread_pool;

/* thread: 0 for the caller, 1..size-1 for the workers. */
typedef void (*ttp_task_fn)(void* arg, int64_t task, int thread);

/* A pool of n_threads (the caller counts as one, so n_threads - 1 workers). */
ttp_status* ttp_thread_pool_create(int n_threads, ttp_thread_pool** out);
void ttp_thread_pool_free(ttp_thread_pool* pool);
int ttp_thread_pool_size(const ttp_thread_pool* pool);
/* Runs fn(arg, t, thread) for t < n_tasks. Calls from several threads (two
   programs on one device) take turns. pool may be NULL: all on the caller. */
void ttp_thread_pool_run(ttp_thread_pool* pool, int64_t n_tasks, ttp_task_fn fn, void* arg);

#endif /* TTP_CPU_THREAD_POOL_H_ */
