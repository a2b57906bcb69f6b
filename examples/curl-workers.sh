#!/usr/bin/env bash
# curl-workers.sh - plain curl in `xargs -P` workers, sharing one limit
# through throttlectl acquire/record (the recipe of the README).
#
#   THROTTLE_NAME=api examples/curl-workers.sh WORKERS < urls.txt
#
# Prints "STATUS URL" per URL.  throttlectl must be on PATH.
set -u
fetch() {
	local hdr tk code rc
	hdr=$(mktemp)
	tk=$(throttlectl acquire) || return
	while :; do
		code=$(curl -s -o /dev/null -D "$hdr" -w '%{http_code}' "$1")
		# Retry-After, Date and the quota headers, from curl's dump
		throttlectl record "$code" --ticket "$tk" --headers "$hdr" --url "$1"
		rc=$?
		[ $rc -eq 10 ] || break                       # 10: acquire and resend
		tk=$(throttlectl acquire --ticket "$tk") || break
	done
	rm -f "$hdr"
	echo "$code $1"
}
export -f fetch
xargs -P "${1:-4}" -n 1 bash -c 'fetch "$0"'
