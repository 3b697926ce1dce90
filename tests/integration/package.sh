#!/bin/bash
# The Debian package in this machine's own apache2, for test_package: the
# steps that change the system, each bounded, each undone by "restore".
#
#   package.sh build SRCDIR OUTDIR    copy the source tree to OUTDIR/src and
#                                     dpkg-buildpackage -us -uc there
#   package.sh begin STATEDIR PID     take the machine-wide lock for PID,
#                                     refuse a running system apache2 or an
#                                     installed package, keep ports.conf
#   package.sh snapshot FILE          what the package may touch, one line
#                                     per path (type, mode, owner, target or
#                                     md5), and its dpkg state
#   package.sh start STATEDIR PORT    the system apache2 (apache2ctl start)
#                                     listening only on 127.0.0.1:PORT
#   package.sh stop STATEDIR          apache2ctl stop, waiting for its exit
#   package.sh restore STATEDIR       stop, purge, disable the modules the
#                                     test enabled, put ports.conf back, drop
#                                     the lock; safe to run more than once
#
# Other engineers run their own apache2 instances from /usr/sbin/apache2
# with their own configurations and ports: the system one started here
# listens on a free loopback port only, and is stopped before "restore"
# returns.

set -u

PKG=libapache2-mod-huiminbao
LOCK=/run/lock/huiminbao-package-test
PORTS=/etc/apache2/ports.conf
SNAP_PATHS="/etc/apache2 /var/lib/apache2 /etc/huiminbao /var/lib/huiminbao
  /var/spool/huiminbao /etc/default/huiminbao /usr/lib/apache2/modules
  /usr/bin/hmbctl /usr/bin/hmb-sandbox /usr/share/huiminbao
  /usr/share/doc/$PKG /usr/share/man/man1/hmbctl.1.gz
  /lib/systemd/system /etc/systemd/system
  /var/lib/systemd/deb-systemd-helper-enabled"

die() {
    echo "package.sh: $*" >&2
    exit 1
}

pid_alive() {
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null
}

apache_pid() {
    local f=/var/run/apache2/apache2.pid
    [ -s "$f" ] && cat "$f"
}

cmd_build() {
    local src=$1 out=$2
    mkdir -p "$out/src" || die "cannot make $out/src"
    # the tree as a fresh clone has it: no build trees, no run directories
    tar -C "$src" --exclude=./.git --exclude='./build*' --exclude=./run \
        --exclude='./tmp-*' --exclude=./autom4te.cache -cf - . \
        | tar -C "$out/src" -xf - || die "cannot copy $src"
    cd "$out/src" || exit 1
    DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
        timeout 1800 dpkg-buildpackage -us -uc >"$out/build.log" 2>&1 \
        || die "dpkg-buildpackage failed: see $out/build.log"
    ls "$out"/${PKG}_*.deb
}

cmd_begin() {
    local state=$1 me=$2 i owner
    mkdir -p "$state"
    # one test at a time on this machine: the lock holds the owner's pid
    for i in $(seq 600); do
        if mkdir "$LOCK" 2>/dev/null; then
            echo "$me" > "$LOCK/pid"
            break
        fi
        owner=$(cat "$LOCK/pid" 2>/dev/null)
        if [ -n "$owner" ] && ! pid_alive "$owner"; then
            rm -rf "$LOCK"
            continue
        fi
        sleep 1
    done
    [ -f "$LOCK/pid" ] && [ "$(cat "$LOCK/pid")" = "$me" ] \
        || die "$LOCK is held by pid $(cat "$LOCK/pid" 2>/dev/null)"
    echo "$LOCK" > "$state/lock"
    if pid_alive "$(apache_pid)"; then
        die "the system apache2 runs (pid $(apache_pid)): not touching it"
    fi
    if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null \
        | grep -q "installed"; then
        die "$PKG is installed already: not touching it"
    fi
    ls /etc/apache2/mods-enabled > "$state/mods-before"
    find /var/lib/apache2 -type d > "$state/varlib-before"
    cp -p "$PORTS" "$state/ports.conf"
    # httpd started as root makes the module's default spool, so other
    # tests on this machine may have made it: purging removes it, restore
    # puts it back as it was
    for d in /var/lib/huiminbao /var/spool/huiminbao; do
        [ -d "$d" ] && echo "$d"
    done > "$state/data-dirs"
    if [ -s "$state/data-dirs" ]; then
        tar -C / -cpf "$state/data-dirs.tar" \
            $(sed 's|^/||' "$state/data-dirs") || die "cannot keep data dirs"
    fi
}

cmd_snapshot() {
    local out=$1 p
    {
        for p in $SNAP_PATHS; do
            [ -e "$p" ] || [ -L "$p" ] || continue
            find "$p" \( -type f -printf '%p f %m %u:%g ' -exec md5sum {} \; \) \
                -o -printf '%p %y %m %u:%g %l\n' \
                | sed 's/ \([0-9a-f]\{32\}\)  .*$/ \1/'
        done | sort
        echo "dpkg $PKG $(dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null \
            || echo not-known)"
    } > "$out"
}

cmd_start() {
    local state=$1 port=$2 i
    [ -f "$state/ports.conf" ] || die "start before begin"
    printf 'Listen 127.0.0.1:%s\n' "$port" > "$PORTS"
    apache2ctl start > "$state/apache2ctl.out" 2>&1 \
        || die "apache2ctl start: $(cat "$state/apache2ctl.out")"
    for i in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "the system apache2 does not listen on 127.0.0.1:$port"
}

cmd_stop() {
    local pid i
    pid=$(apache_pid)
    pid_alive "$pid" || return 0
    apache2ctl stop >/dev/null 2>&1 || kill "$pid"
    for i in $(seq 200); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    die "the system apache2 (pid $pid) did not stop in 20 s"
}

cmd_restore() {
    local state=$1 m
    cmd_stop "$state"
    if dpkg-query -W "$PKG" >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive dpkg --purge "$PKG" >/dev/null 2>&1
    fi
    # a2enmod huiminbao enabled its dependencies: disable those that were
    # not enabled before, and forget that an admin disabled them
    if [ -f "$state/mods-before" ]; then
        for m in $(ls /etc/apache2/mods-enabled); do
            grep -qx "$m" "$state/mods-before" && continue
            case "$m" in
                *.load)
                    a2dismod -q -f "${m%.load}" >/dev/null 2>&1
                    rm -f "/var/lib/apache2/module/disabled_by_admin/${m%.load}"
                    ;;
            esac
        done
        rm -f "$state/mods-before"
    fi
    if [ -f "$state/varlib-before" ]; then
        find /var/lib/apache2 -depth -type d -empty | while read -r d; do
            grep -qx "$d" "$state/varlib-before" || rmdir "$d"
        done
        rm -f "$state/varlib-before"
    fi
    if [ -f "$state/data-dirs.tar" ]; then
        tar -C / -xpf "$state/data-dirs.tar"
        rm -f "$state/data-dirs.tar"
    fi
    if [ -f "$state/ports.conf" ]; then
        cp -p "$state/ports.conf" "$PORTS"
        rm -f "$state/ports.conf"
    fi
    if [ -f "$state/lock" ]; then
        rm -rf "$LOCK"
        rm -f "$state/lock"
    fi
    return 0
}

case "${1:-}" in
    build)    [ $# -eq 3 ] || die "build SRCDIR OUTDIR"; cmd_build "$2" "$3" ;;
    begin)    [ $# -eq 3 ] || die "begin STATEDIR PID"; cmd_begin "$2" "$3" ;;
    snapshot) [ $# -eq 2 ] || die "snapshot FILE"; cmd_snapshot "$2" ;;
    start)    [ $# -eq 3 ] || die "start STATEDIR PORT"; cmd_start "$2" "$3" ;;
    stop)     [ $# -eq 2 ] || die "stop STATEDIR"; cmd_stop "$2" ;;
    restore)  [ $# -eq 2 ] || die "restore STATEDIR"; cmd_restore "$2" ;;
    *)        sed -n '5,20p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
esac
