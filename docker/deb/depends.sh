#!/bin/sh
# Print the Debian packages that provide the shared libraries BINARY links, comma-separated.
# Each library is looked up as ldd prints it, then resolved (alternatives), then with and
# without the /usr prefix (merged /usr).
set -eu
for lib in $(ldd "$1" | awk '/=> \// {print $3}'); do
    real=$(readlink -f "$lib")
    for cand in "$lib" "$real" "${lib#/usr}" "/usr$lib" "${real#/usr}"; do
        pkg=$(dpkg -S "$cand" 2>/dev/null | head -n1 | cut -d: -f1) || true
        if [ -n "$pkg" ]; then
            echo "$pkg"
            break
        fi
    done
done | sort -u | paste -sd, - | sed 's/,/, /g'
