#!/bin/sh
# The container's entrypoint: never run dropcast as root.
# Started as root (the default), it drops to PUID:PGID (default 1000:1000); started with
# `--user UID:GID`, it is already that user and runs dropcast directly.
set -eu

if [ "$(id -u)" = "0" ]; then
    uid="${PUID:-1000}"
    gid="${PGID:-1000}"
    if [ "$uid" = "0" ]; then
        echo "dropcast-entrypoint: refusing to run as root; set PUID to a user's id" >&2
        exit 1
    fi
    # dropcast's own state folder belongs to it; a fresh volume arrives owned by root.
    state="${DROPCAST_STATE:-/data/state}"
    if [ -d "$state" ]; then
        chown -R "$uid:$gid" "$state"
    fi
    exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all --bounding-set=-all \
        -- dropcast "$@"
fi
exec dropcast "$@"
