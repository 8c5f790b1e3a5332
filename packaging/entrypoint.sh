#!/bin/sh
# MAP entrypoint (also /var/holoscan/tools, where holoscan-cli's MAPs keep theirs): `run` (default) runs the app
# the way app.json#command says (python3 -u /opt/holoscan/app/); `show [app|pkg]` prints the manifests as
# holoscan-cli's tools do; `env` prints the environment; `extract` copies app, models, docs and manifests to
# /var/run/holoscan/export (or its app/ config/ models/ docs/ subfolders, per the MAP spec).
set -eu

APP_JSON="${HOLOSCAN_APP_MANIFEST_PATH:-/etc/holoscan/app.json}"
PKG_JSON="${HOLOSCAN_PKG_MANIFEST_PATH:-/etc/holoscan/pkg.json}"
EXPORT=/var/run/holoscan/export

usage() {
    cat <<EOF
usage: <image> [run] [app flags...]   run the app (default); flags as python -m ${MSK_MAPS_APP_MODULE:-apps.<app>} --help
       <image> show [app|pkg]         print /etc/holoscan/app.json and/or /etc/holoscan/pkg.json
       <image> env                    print the environment
       <image> extract                copy app, models, docs and manifests to a folder mounted at $EXPORT
                                      (or only to the mounted $EXPORT/app, config, models, docs subfolders)
EOF
}

raise_stack() {
    # Holoscan wants a 32 MiB stack; an unprivileged process may raise its soft limit up to the hard one.
    ulimit -s 32768 2>/dev/null || ulimit -s "$(ulimit -H -s)" 2>/dev/null || true
}

copy_into() {  # copy_into SRC_DIR DEST_DIR: the contents of SRC_DIR
    mkdir -p "$2" && cp -R "$1"/. "$2"/ && echo "exported $1 -> $2"
}

extract() {
    found=0
    for part in app config models docs; do
        [ -d "$EXPORT/$part" ] || continue
        found=1
        case "$part" in
            app) copy_into "${HOLOSCAN_APPLICATION:-/opt/holoscan/app}" "$EXPORT/app" ;;
            models) copy_into "${HOLOSCAN_MODEL_PATH:-/opt/holoscan/models}" "$EXPORT/models" ;;
            docs) copy_into "${HOLOSCAN_DOCS_PATH:-/opt/holoscan/docs}" "$EXPORT/docs" ;;
            config) cp "$APP_JSON" "$PKG_JSON" "${HOLOSCAN_CONFIG_PATH:-/var/holoscan/app.yaml}" "$EXPORT/config/" \
                && echo "exported manifests -> $EXPORT/config" ;;
        esac
    done
    if [ "$found" = 0 ]; then
        if ! [ -w "$EXPORT" ]; then
            echo "error: mount a writable folder at $EXPORT (e.g. -v \$PWD/export:$EXPORT)" >&2
            exit 2
        fi
        for part in app config models docs; do mkdir -p "$EXPORT/$part"; done
        extract
    fi
}

show() {  # show [app|pkg]: holoscan-cli tools' banners, then the manifest
    what="${1:-all}"
    for part in app pkg; do
        [ "$what" = all ] || [ "$what" = "$part" ] || continue
        file="$APP_JSON"; [ "$part" = pkg ] && file="$PKG_JSON"
        echo "============================== $part.json =============================="
        cat "$file"
    done
}

cmd="${1:-run}"
case "$cmd" in
    run | show | env | extract | help | -h | --help) [ "$#" -gt 0 ] && shift ;;
    -*) cmd=run ;;  # flags only: all of them go to the app
    *) echo "error: unknown command '$cmd'" >&2; usage >&2; exit 2 ;;
esac

case "$cmd" in
    run)
        raise_stack
        # app.json#command; the working directory stays /var/holoscan.
        exec python3 -u "${HOLOSCAN_APPLICATION:-/opt/holoscan/app}/" "$@"
        ;;
    show) show "$@" ;;
    env) env | sort ;;
    extract) extract ;;
    *) usage ;;
esac
