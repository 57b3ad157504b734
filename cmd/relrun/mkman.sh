#!/bin/sh
# Make relrun.1 from relrun's own help text (so the man page says what the
# binary says): the overview, then each command's --help. Usage: mkman.sh RELRUN OUT
set -eu
relrun=$1
out=$2
# roff: a backslash is \e; a line starting with . or ' must not be a request.
quote() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
{
	version=$("$relrun" version | sed -n 's/^relrun \([^ ]*\).*/\1/p')
	printf '.TH RELRUN 1 "" "relrun %s" "User Commands"\n' "$version"
	printf '.SH NAME\nrelrun, kubectl-relrun \\- run release tasks as Kubernetes Jobs\n'
	printf '.SH SYNOPSIS\n.nf\n'
	"$relrun" help | quote
	printf '.fi\n.SH COMMANDS\n'
	for c in run render logs wait list cancel cron version completion; do
		printf '.SS relrun %s\n.nf\n' "$c"
		"$relrun" "$c" --help | quote
		printf '.fi\n'
	done
	printf '.SH SEE ALSO\nkubectl(1); the README of relrun for install, CI use and the chart.\n'
} >"$out.tmp"
mv "$out.tmp" "$out"
