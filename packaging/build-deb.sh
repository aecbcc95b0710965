#!/bin/sh
# Builds the dnstap-sensor .deb with dpkg-deb alone (no debhelper):
#   packaging/build-deb.sh ARCH BINARY MANPAGE VERSION OUTDIR
# BINARY is a static build for ARCH (CGO_ENABLED=0), MANPAGE the roff page
# from internal/genman. Writes OUTDIR/dnstap-sensor_VERSION_ARCH.deb.
set -eu
arch=$1 bin=$2 man=$3 version=$4 outdir=$5
here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
umask 022

install -D -m 0755 "$bin" "$root/usr/bin/dnstap-sensor"
install -D -m 0644 "$here/dnstap-sensor.service" "$root/lib/systemd/system/dnstap-sensor.service"
install -D -m 0644 "$here/sensor.conf" "$root/etc/dnstap-sensor/sensor.conf"
install -D -m 0644 "$here/logrotate" "$root/etc/logrotate.d/dnstap-sensor"
install -d -m 0755 "$root/usr/share/man/man1" "$root/usr/share/doc/dnstap-sensor" "$root/usr/share/lintian/overrides"
gzip -9n < "$man" > "$root/usr/share/man/man1/dnstap-sensor.1.gz"
chmod 0644 "$root/usr/share/man/man1/dnstap-sensor.1.gz"
install -m 0644 "$here/debian/copyright" "$root/usr/share/doc/dnstap-sensor/copyright"
date=$(LC_ALL=C date -u -R ${SOURCE_DATE_EPOCH:+-d @$SOURCE_DATE_EPOCH})
printf 'dnstap-sensor (%s) unstable; urgency=medium\n\n  * Built from the dnstap-sensor repository.\n\n -- dnstap-sensor maintainers <dnstap-sensor@lists.example.org>  %s\n' \
	"$version" "$date" | gzip -9n > "$root/usr/share/doc/dnstap-sensor/changelog.gz"
chmod 0644 "$root/usr/share/doc/dnstap-sensor/changelog.gz"
install -m 0644 "$here/debian/lintian-overrides" "$root/usr/share/lintian/overrides/dnstap-sensor"

install -d -m 0755 "$root/DEBIAN"
for s in postinst prerm postrm; do
	install -m 0755 "$here/debian/$s" "$root/DEBIAN/$s"
done
printf '/etc/dnstap-sensor/sensor.conf\n/etc/logrotate.d/dnstap-sensor\n' > "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" "$here/debian/control" > "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

mkdir -p "$outdir"
dpkg-deb --root-owner-group -Zxz --build "$root" "$outdir/dnstap-sensor_${version}_${arch}.deb" >/dev/null
echo "$outdir/dnstap-sensor_${version}_${arch}.deb"
