#!/bin/sh
# Installs the Fabrik bundle on this host, with no network: run as root from the unpacked bundle,
# after checking the tarball (sha256sum -c fabrik-*.tar.gz.sha256).
#   PREFIX (default /opt/fabrik)  where the server goes; MODELS (default /var/lib/fabrik/models)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prefix=${PREFIX:-/opt/fabrik}
models=${MODELS:-/var/lib/fabrik/models}

if ! getent passwd fabrik >/dev/null; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin fabrik
fi
install -d -m 0755 "$prefix"
cp -R "$here/fabrik/." "$prefix/"
chown -R root:root "$prefix"
chmod -R go-w "$prefix"
install -d -m 0750 -o root -g fabrik "$(dirname "$models")"
install -d -m 0750 -o root -g fabrik "$models"
sed -e "s|/opt/fabrik/fabrik|$prefix/fabrik|" -e "s|/var/lib/fabrik/models|$models|" \
    "$here/fabrik.service" >/etc/systemd/system/fabrik.service
systemctl daemon-reload
echo "Installed $prefix (SBOM: $prefix/sbom.cdx.json)."
echo "Put models in $models (readable by group fabrik), then: systemctl enable --now fabrik"
