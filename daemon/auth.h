/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Who may change the pool. Every door (ioctl setters, D-Bus setters and
 * methods) asks here and gets its answer later, on the event loop, so that
 * nothing on the token path ever waits for it. Root is allowed at once;
 * everyone else is up to polkit, asked from one worker thread with its own
 * GMainContext, started on the first question (after steve has dropped its
 * privileges). No answer from polkit (missing, crashed, too slow) is a denial.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

typedef struct Auth Auth;
typedef struct AuthRequest AuthRequest;

typedef enum AuthAction {
        AUTH_CONFIGURE,         /* org.steve.Jobserver.configure: any parameter */
        AUTH_MANAGE,            /* org.steve.Jobserver.manage: reclaim, pause, resume */
        AUTH_INSPECT,           /* org.steve.Jobserver.inspect: other users' command lines */
} AuthAction;

typedef enum AuthResult {
        AUTH_DENIED,
        AUTH_ALLOWED,
        AUTH_CHALLENGE,         /* allowed after authentication the caller did not offer */
} AuthResult;

typedef struct AuthSubject {
        uid_t uid;
        pid_t pid;              /* with its start time: polkit's unix-process subject */
        const char *bus_name;   /* set: polkit's system-bus-name subject instead */
} AuthSubject;

typedef void (*AuthCallback)(AuthResult result, void *userdata);

int auth_new(sd_event *event, Auth **ret);
Auth *auth_free(Auth *a);

const char *auth_action_id(AuthAction action);

/* The callback runs once, from the event loop, unless the request is cancelled. */
int auth_check(Auth *a, AuthAction action, const AuthSubject *subject, bool interactive,
               AuthCallback callback, void *userdata, AuthRequest **ret);
void auth_cancel(AuthRequest *r);
