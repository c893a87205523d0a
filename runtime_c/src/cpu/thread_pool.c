/* The cpu device's thread pool. Workers sleep on a condition variable
 * between runs; a run publishes (fn, arg, n_tasks) under a new generation
 * number, and every thread, the caller included, claims tasks from one
 * atomic counter until none are left. Workers spin briefly on the
 * generation before sleeping, because a program runs many short ops back to
 * back and a futex wake per op would cost more than some ops take. */
#include "thread_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define SPIN_ROUNDS 20000

struct ttp_thread_pool {
  int size;
  pthread_t* workers;
  pthread_mutex_t run_lock; /* one run at a time */
  pthread_mutex_t lock;     /* guards sleeping and waking */
  pthread_cond_t wake, done;
  atomic_uint_fast64_t generation;
  atomic_int_fast64_t next_task;
  atomic_int busy;          /* workers still inside the current run */
  int stopping;
  int64_t n_tasks;
  ttp_task_fn fn;
  void* arg;
};

typedef struct worker_start {
  ttp_thread_pool* pool;
  int index;
} worker_start;

static void claim_tasks(ttp_thread_pool* p, int thread) {
  for (;;) {
    int64_t t = atomic_fetch_add(&p->next_task, 1);
    if (t >= p->n_tasks) return;
    p->fn(p->arg, t, thread);
  }
}

static void* worker_main(void* arg) {
  worker_start start = *(worker_start*)arg;
  free(arg);
  ttp_thread_pool* p = start.pool;
  uint_fast64_t seen = 0;
  for (;;) {
    uint_fast64_t g = atomic_load(&p->generation);
    for (int spin = 0; g == seen && spin < SPIN_ROUNDS; spin++) g = atomic_load(&p->generation);
    if (g == seen) {
      pthread_mutex_lock(&p->lock);
      while ((g = atomic_load(&p->generation)) == seen && !p->stopping) pthread_cond_wait(&p->wake, &p->lock);
      int stop = p->stopping;
      pthread_mutex_unlock(&p->lock);
      if (stop) return NULL;
    }
    seen = g;
    claim_tasks(p, start.index);
    if (atomic_fetch_sub(&p->busy, 1) == 1) {
      pthread_mutex_lock(&p->lock);
      pthread_cond_signal(&p->done);
      pthread_mutex_unlock(&p->lock);
    }
  }
}

static void stop_workers(ttp_thread_pool* p, int started) {
  pthread_mutex_lock(&p->lock);
  p->stopping = 1;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  for (int i = 0; i < started; i++) pthread_join(p->workers[i], NULL);
}

ttp_status* ttp_thread_pool_create(int n_threads, ttp_thread_pool** out) {
  *out = NULL;
  ttp_thread_pool* p = calloc(1, sizeof *p);
  if (!p) return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory creating a thread pool");
  p->size = n_threads < 1 ? 1 : n_threads;
  p->workers = calloc((size_t)p->size, sizeof *p->workers);
  if (!p->workers) {
    free(p);
    return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory creating a thread pool");
  }
  pthread_mutex_init(&p->run_lock, NULL);
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  atomic_init(&p->generation, 0);
  atomic_init(&p->next_task, 0);
  atomic_init(&p->busy, 0);
  for (int i = 1; i < p->size; i++) {
    worker_start* s = malloc(sizeof *s);
    if (s) *s = (worker_start){p, i};
    if (!s || pthread_create(&p->workers[i - 1], NULL, worker_main, s) != 0) {
      free(s);
      stop_workers(p, i - 1);
      p->size = 1;
      ttp_thread_pool_free(p);
      return ttp_make_status(TTP_OUT_OF_MEMORY, "could not start %d compute threads (started %d)", n_threads, i);
    }
  }
  *out = p;
  return NULL;
}

void ttp_thread_pool_free(ttp_thread_pool* p) {
  if (!p) return;
  if (p->size > 1) stop_workers(p, p->size - 1);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->done);
  pthread_mutex_destroy(&p->lock);
  pthread_mutex_destroy(&p->run_lock);
  free(p->workers);
  free(p);
}

int ttp_thread_pool_size(const ttp_thread_pool* p) { return p ? p->size : 1; }

void ttp_thread_pool_run(ttp_thread_pool* p, int64_t n_tasks, ttp_task_fn fn, void* arg) {
  if (n_tasks <= 0) return;
  if (!p || p->size == 1 || n_tasks == 1) {
    for (int64_t t = 0; t < n_tasks; t++) fn(arg, t, 0);
    return;
  }
  pthread_mutex_lock(&p->run_lock);
  p->fn = fn;
  p->arg = arg;
  p->n_tasks = n_tasks;
  atomic_store(&p->next_task, 0);
  atomic_store(&p->busy, p->size - 1);
  pthread_mutex_lock(&p->lock);
  atomic_fetch_add(&p->generation, 1); /* publishes the fields above (seq_cst) */
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  claim_tasks(p, 0);
  /* the workers may still be finishing their last task */
  for (int spin = 0; atomic_load(&p->busy) != 0 && spin < SPIN_ROUNDS; spin++) {
  }
  if (atomic_load(&p->busy) != 0) {
    pthread_mutex_lock(&p->lock);
    while (atomic_load(&p->busy) != 0) pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
  }
  pthread_mutex_unlock(&p->run_lock);
}
