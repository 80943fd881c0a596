# SPDX-License-Identifier: MIT OR Apache-2.0
# scripts/host-mirror.sh: sourced by install-deps.sh and test-debian13.sh.
# host_mirror prints the host's Debian archive: a deb822 "URIs:" or a
# one-line "deb" entry whose suite is not a -security one, else
# deb.debian.org.
host_mirror()
{
	local f uri
	for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
		/etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		uri=$(awk '
			/^[ \t]*#/ { next }
			/^URIs:/ { u = $2 }
			/^Suites:/ && u != "" && $0 !~ /-security/ &&
				u ~ /debian\/?$/ { print u; exit }
			/^deb[ \t]/ && $0 !~ /-security/ {
				for (i = 2; i <= NF; i++)
					if ($i ~ /^[a-z]+:\/\// && $i ~ /debian\/?$/) {
						print $i; exit
					}
			}' "$f")
		if [ -n "$uri" ]; then
			echo "${uri%/}"
			return
		fi
	done
	echo http://deb.debian.org/debian
}
