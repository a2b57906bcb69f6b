/* runner.c - the seed's TaskRunner, corrected: a fixed pool of threads,
 * results in scheduling order, failures kept beside their task, duplicate
 * names refused, reusable, and shut down cleanly. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmthrottle.h"

struct task {
	char *name;
	shmt_task_fn fn;
	void *arg;
};

struct shmt_runner {
	pthread_mutex_t mu;
	pthread_cond_t work; /* workers: tasks to take, or shut down */
	pthread_cond_t done; /* run(): the last task finished */
	pthread_t *threads;
	unsigned nthreads;
	struct task *tasks; /* scheduled for the next run */
	size_t ntasks, cap;
	shmt_task_result *results; /* of the run under way or the last one */
	char **names; /* the last run's names, which results point to */
	size_t nresults;
	size_t next, finished; /* of the run under way */
	unsigned long serial;  /* for "task-N" */
	int running, shutdown;
};

static void *
worker(void *p)
{
	shmt_runner *r = p;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		size_t i;
		void *result = NULL;
		int err;

		while (!r->shutdown && !(r->running && r->next < r->nresults))
			pthread_cond_wait(&r->work, &r->mu);
		if (r->shutdown)
			break;
		i = r->next++;
		pthread_mutex_unlock(&r->mu);
		err = r->tasks[i].fn(r->tasks[i].arg, &result);
		pthread_mutex_lock(&r->mu);
		r->results[i].error = err;
		r->results[i].result = result;
		if (++r->finished == r->nresults)
			pthread_cond_signal(&r->done);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

int
shmt_runner_create(shmt_runner **rp, unsigned workers)
{
	shmt_runner *r;

	if (!rp || workers < 1 || workers > 1024)
		return SHMT_EINVAL;
	*rp = NULL;
	if (!(r = calloc(1, sizeof(*r))) ||
	    !(r->threads = calloc(workers, sizeof(*r->threads)))) {
		free(r);
		return SHMT_ENOMEM;
	}
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->work, NULL);
	pthread_cond_init(&r->done, NULL);
	for (; r->nthreads < workers; r->nthreads++)
		if (pthread_create(&r->threads[r->nthreads], NULL, worker, r) !=
		    0) {
			shmt_runner_destroy(r);
			return SHMT_ESYS;
		}
	*rp = r;
	return SHMT_OK;
}

static int
scheduled(const shmt_runner *r, const char *name)
{
	for (size_t i = 0; i < r->ntasks; i++)
		if (strcmp(r->tasks[i].name, name) == 0)
			return 1;
	return 0;
}

int
shmt_runner_schedule(shmt_runner *r, const char *name, shmt_task_fn fn,
                     void *arg)
{
	char auto_name[32];
	int rc = SHMT_OK;

	if (!r || !fn)
		return SHMT_EINVAL;
	pthread_mutex_lock(&r->mu);
	if (!name) {
		snprintf(auto_name, sizeof(auto_name), "task-%lu", ++r->serial);
		name = auto_name;
	}
	if (r->running)
		rc = SHMT_ERUNNING;
	else if (scheduled(r, name))
		rc = SHMT_EEXIST;
	else if (r->ntasks == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		struct task *v = realloc(r->tasks, cap * sizeof(*v));

		if (v) {
			r->tasks = v;
			r->cap = cap;
		} else {
			rc = SHMT_ENOMEM;
		}
	}
	if (rc == SHMT_OK) {
		struct task *tk = &r->tasks[r->ntasks];

		if ((tk->name = strdup(name)) != NULL) {
			tk->fn = fn;
			tk->arg = arg;
			r->ntasks++;
		} else {
			rc = SHMT_ENOMEM;
		}
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static void
forget_results(shmt_runner *r)
{
	for (size_t i = 0; i < r->nresults; i++)
		free(r->names[i]);
	free(r->names);
	free(r->results);
	r->names = NULL;
	r->results = NULL;
	r->nresults = 0;
}

int
shmt_runner_run(shmt_runner *r, const shmt_task_result **results, size_t *n)
{
	shmt_task_result *res;
	char **names;

	if (!r || !results || !n)
		return SHMT_EINVAL;
	pthread_mutex_lock(&r->mu);
	if (r->running) {
		pthread_mutex_unlock(&r->mu);
		return SHMT_ERUNNING;
	}
	res = calloc(r->ntasks ? r->ntasks : 1, sizeof(*res));
	names = calloc(r->ntasks ? r->ntasks : 1, sizeof(*names));
	if (!res || !names) {
		free(res);
		free(names);
		pthread_mutex_unlock(&r->mu);
		return SHMT_ENOMEM;
	}
	forget_results(r);
	for (size_t i = 0; i < r->ntasks; i++) {
		/* the results own the names now */
		names[i] = r->tasks[i].name;
		res[i].name = names[i];
	}
	r->results = res;
	r->names = names;
	r->nresults = r->ntasks;
	r->next = r->finished = 0;
	r->running = r->ntasks > 0;
	pthread_cond_broadcast(&r->work);
	while (r->running && r->finished < r->nresults)
		pthread_cond_wait(&r->done, &r->mu);
	r->running = 0;
	r->ntasks = 0;
	*results = r->results;
	*n = r->nresults;
	pthread_mutex_unlock(&r->mu);
	return SHMT_OK;
}

void
shmt_runner_destroy(shmt_runner *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->shutdown = 1;
	pthread_cond_broadcast(&r->work);
	pthread_mutex_unlock(&r->mu);
	for (unsigned i = 0; i < r->nthreads; i++)
		pthread_join(r->threads[i], NULL);
	forget_results(r);
	for (size_t i = 0; i < r->ntasks; i++)
		free(r->tasks[i].name);
	free(r->tasks);
	free(r->threads);
	pthread_cond_destroy(&r->work);
	pthread_cond_destroy(&r->done);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
