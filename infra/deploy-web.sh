#!/usr/bin/env bash
# Publishes the web app (infra/web/) to a deployed stack, after `sam deploy`:
# reads the stack's outputs, writes the page's config.json (hosted UI sign-in
# with this stack's user pool, API on the same origin), uploads the files to
# the web bucket and invalidates the CloudFront cache.
#
#   infra/deploy-web.sh [stack name]
#
# The stack name is the argument, else $STACK_NAME, else the default
# environment's stack_name in samconfig.toml. Needs the AWS CLI with
# credentials for the stack's account and region (AWS_PROFILE, AWS_REGION).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
web="$root/infra/web"

die() {
  echo "deploy-web: $*" >&2
  exit 1
}

stack="${1:-${STACK_NAME:-}}"
if [[ -z "$stack" && -f "$root/samconfig.toml" ]]; then
  # The first stack_name of samconfig.toml is the default environment's.
  stack="$(sed -n 's/^[[:space:]]*stack_name[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$root/samconfig.toml" | head -n 1)"
fi
[[ -n "$stack" ]] || die "no stack name: give it as the argument or in STACK_NAME"
[[ -f "$web/index.html" ]] || die "$web/index.html not found"

echo "deploy-web: reading the outputs of stack $stack" >&2
outputs="$(aws cloudformation describe-stacks --stack-name "$stack" \
  --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text)" ||
  die "could not describe stack $stack (deployed? right account and region?)"

# output KEY: the value of the stack output KEY, or nothing.
output() {
  awk -F '\t' -v key="$1" '$1 == key { print $2; exit }' <<<"$outputs"
}

web_url="$(output WebUrl)"
sign_in_url="$(output WebSignInUrl)"
bucket="$(output WebBucketName)"
distribution="$(output WebDistributionId)"
client_id="$(output UserPoolClientId)"
domain="$(output UserPoolDomain)"

missing=()
for name in WebUrl WebSignInUrl WebBucketName WebDistributionId UserPoolClientId UserPoolDomain; do
  [[ -n "$(output "$name")" ]] || missing+=("$name")
done
if ((${#missing[@]} > 0)); then
  die "stack $stack has no output ${missing[*]}: deploy the current template.yaml first (sam build && sam deploy)"
fi

# The values go into JSON unescaped: they must be plain URLs and ids.
for value in "$web_url" "$client_id" "$domain"; do
  [[ "$value" =~ ^[A-Za-z0-9:/._-]+$ ]] || die "unexpected stack output value: $value"
done

# The app client's sign-in URL comes from the WebDomainName parameter, which
# the first deployment cannot know (see template.yaml): until it matches,
# the hosted UI would refuse to send users back to the page.
if [[ "$sign_in_url" != "$web_url" ]]; then
  host="${web_url#https://}"
  host="${host%/}"
  die "the app client does not accept $web_url as its sign-in URL yet (it has: $sign_in_url).
Deploy once more with the web app's host name, e.g.
  sam deploy --parameter-overrides WebDomainName=$host   (plus your other overrides)
or add WebDomainName=\"$host\" to parameter_overrides in samconfig.toml, then run this script again."
fi

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

# Every file of infra/web/ except a local-only config.json and dotfiles.
(cd "$web" && find . -type f ! -name '.*' ! -path './config.json' -print0) |
  while IFS= read -r -d '' file; do
    mkdir -p "$stage/$(dirname "$file")"
    cp "$file" "$stage/$file"
  done

printf '{"signIn": "cognito", "apiBase": "", "cognito": {"domain": "%s", "clientId": "%s", "redirectUri": "%s"}}\n' \
  "$domain" "$client_id" "$web_url" >"$stage/config.json"

content_type() {
  case "$1" in
    *.html) echo "text/html; charset=utf-8" ;;
    *.js | *.mjs) echo "text/javascript; charset=utf-8" ;;
    *.css) echo "text/css; charset=utf-8" ;;
    *.json | *.map) echo "application/json; charset=utf-8" ;;
    *.webmanifest) echo "application/manifest+json; charset=utf-8" ;;
    *.txt) echo "text/plain; charset=utf-8" ;;
    *.svg) echo "image/svg+xml" ;;
    *.png) echo "image/png" ;;
    *.jpg | *.jpeg) echo "image/jpeg" ;;
    *.gif) echo "image/gif" ;;
    *.webp) echo "image/webp" ;;
    *.ico) echo "image/x-icon" ;;
    *.woff2) echo "font/woff2" ;;
    *.woff) echo "font/woff" ;;
    *) return 1 ;;
  esac
}

# upload FILE: copies one staged file to the bucket with its content type.
# The entry points (index.html, config.json) are always revalidated; the
# other files (no build step, so no hashed names) are cached briefly.
upload() {
  local file="$1" type cache
  type="$(content_type "$file")" || die "no content type known for $file (add its extension to content_type)"
  case "$file" in
    index.html | config.json) cache="no-cache" ;;
    *) cache="public, max-age=300" ;;
  esac
  aws s3 cp "$stage/$file" "s3://$bucket/$file" --only-show-errors \
    --content-type "$type" --cache-control "$cache"
}

echo "deploy-web: uploading to s3://$bucket/" >&2
# The assets first, the entry points last: a new index.html never refers
# to a file not uploaded yet.
while IFS= read -r -d '' file; do
  file="${file#./}"
  case "$file" in
    index.html | config.json) ;;
    *) upload "$file" ;;
  esac
done < <(cd "$stage" && find . -type f -print0)
upload config.json
upload index.html

# Removes what is no longer in infra/web/ (everything else is identical by
# now, so sync uploads nothing).
aws s3 sync "$stage/" "s3://$bucket/" --delete --size-only --only-show-errors

echo "deploy-web: invalidating the CloudFront cache of $distribution" >&2
invalidation="$(aws cloudfront create-invalidation --distribution-id "$distribution" \
  --paths '/*' --query 'Invalidation.Id' --output text)"
aws cloudfront wait invalidation-completed --distribution-id "$distribution" --id "$invalidation"

echo "deploy-web: done, the web app is at $web_url" >&2
