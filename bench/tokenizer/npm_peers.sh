# Sourced by bench/tokenizer/*.sh: the npm reference tools, pinned in this one place, in
# $LMKIT_NPM_REF (default /tmp/lmkit-npm-ref), installed when missing. Exports NPM_REF and
# LMKIT_NPM_REF (read by the node scripts).
NPM_REF="${LMKIT_NPM_REF:-/tmp/lmkit-npm-ref}"
export LMKIT_NPM_REF="$NPM_REF"
if [ ! -d "$NPM_REF/node_modules/tiktoken" ] || [ ! -d "$NPM_REF/node_modules/tokenizers" ]; then
  mkdir -p "$NPM_REF" && (cd "$NPM_REF" && npm init -y > /dev/null && npm install --silent tiktoken@1.0.22 tokenizers@0.23.2)
fi
