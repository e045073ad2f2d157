#!/usr/bin/env bash
# Puts every model of models/models.toml into models/: found in models/, else copied from
# ../shared/models/, else downloaded from its source; always checked against its sha256.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${ATELIER_SHARED:-../shared}
python3 - <<'PY' | while read -r name file sha source; do
import tomllib
for m in tomllib.load(open("models/models.toml", "rb"))["model"]:
    print(m["name"], m["file"], m["sha256"], m["source"])
PY
  dest="models/$file"
  ok() { [ -f "$1" ] && echo "$sha  $1" | sha256sum --check --status; }
  if ok "$dest"; then continue; fi
  if ok "$shared/models/$file"; then
    cp "$shared/models/$file" "$dest"; echo "model $name: copied from $shared/models"; continue
  fi
  echo "model $name: downloading $source"
  curl -fL --progress-bar -o "$dest.part" "$source"
  if ! ok "$dest.part"; then rm -f "$dest.part"; echo "model $name: sha256 mismatch for $source" >&2; exit 1; fi
  mv "$dest.part" "$dest"
done
