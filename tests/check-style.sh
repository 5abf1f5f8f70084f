#!/usr/bin/env bash
# `make check`: formatting (clang-format, .clang-format) and static analysis
# (cppcheck) over the project's C sources. Part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v '^build/' | while read -r f; do [ -f "$f" ] && echo "$f"; done)
status=0
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/pbx-format.$$; then
	echo "check: these files need clang-format -i:" >&2
	grep -o '^[^:]*\.[ch]' /tmp/pbx-format.$$ | sort -u >&2
	status=1
fi
rm -f /tmp/pbx-format.$$
if ! cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	--inline-suppr --suppress=missingIncludeSystem -I pbx/include \
	-D__GNUC__ --std=c11 "${files[@]}"; then
	echo "check: cppcheck found problems (above)" >&2
	status=1
fi
[ $status = 0 ] && echo "check: ${#files[@]} files formatted and clean"
exit $status
