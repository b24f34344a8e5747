/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "auth.h"
#include "log.h"

struct AuthRequest {
        Auth *auth;
        AuthAction action;
        uid_t uid;
        pid_t pid;
        char *who;
        AuthCallback callback;
        void *userdata;
        TAILQ_ENTRY(AuthRequest) link;
};

struct Auth {
        sd_event_source *answer_source;
        TAILQ_HEAD(, AuthRequest) pending;
};

const char *auth_action_id(AuthAction action) {
        return action == AUTH_MANAGE ? "org.steve.Jobserver.manage" : "org.steve.Jobserver.configure";
}

static void request_free(AuthRequest *r) {
        TAILQ_REMOVE(&r->auth->pending, r, link);
        free(r->who);
        free(r);
}

/* Until polkit decides, only root may change anything. */
static bool decide(const AuthRequest *r) {
        return r->uid == 0;
}

static int on_answers(sd_event_source *source, void *userdata) {
        Auth *a = userdata;
        AuthRequest *r;

        while ((r = TAILQ_FIRST(&a->pending))) {
                AuthCallback callback = r->callback;
                void *data = r->userdata;
                bool allowed = decide(r);

                log_info("%s %s: uid %u, %s", auth_action_id(r->action), allowed ? "allowed" : "denied",
                         (unsigned) r->uid, r->who);
                request_free(r);
                callback(allowed, data);
        }
        return 0;
}

int auth_new(sd_event *event, Auth **ret) {
        Auth *a = calloc(1, sizeof *a);
        int r;

        if (!a)
                return -ENOMEM;
        TAILQ_INIT(&a->pending);
        r = sd_event_add_defer(event, &a->answer_source, on_answers, a);
        if (r >= 0)
                r = sd_event_source_set_enabled(a->answer_source, SD_EVENT_OFF);
        if (r < 0) {
                auth_free(a);
                return r;
        }
        *ret = a;
        return 0;
}

Auth *auth_free(Auth *a) {
        if (!a)
                return NULL;
        while (!TAILQ_EMPTY(&a->pending))
                request_free(TAILQ_FIRST(&a->pending));
        sd_event_source_disable_unref(a->answer_source);
        free(a);
        return NULL;
}

int auth_check(Auth *a, AuthAction action, const AuthSubject *subject, bool interactive,
               AuthCallback callback, void *userdata, AuthRequest **ret) {
        AuthRequest *r = calloc(1, sizeof *r);

        if (!r)
                return -ENOMEM;
        if (subject->bus_name)
                r->who = strdup(subject->bus_name);
        else if (asprintf(&r->who, "pid %d", (int) subject->pid) < 0)
                r->who = NULL;
        if (!r->who) {
                free(r);
                return -ENOMEM;
        }
        r->auth = a;
        r->action = action;
        r->uid = subject->uid;
        r->pid = subject->pid;
        r->callback = callback;
        r->userdata = userdata;
        TAILQ_INSERT_TAIL(&a->pending, r, link);
        (void) sd_event_source_set_enabled(a->answer_source, SD_EVENT_ONESHOT);
        if (ret)
                *ret = r;
        return 0;
}

void auth_cancel(AuthRequest *r) {
        if (r)
                request_free(r);
}
