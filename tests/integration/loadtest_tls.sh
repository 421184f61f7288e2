#!/usr/bin/env bash
# https targets (API Gateway is https only): a trusted certificate (--ca-file) gives 0 failures on kept-alive
# TLS connections; an untrusted one fails every request with the verification error; --insecure skips it.
source "$(dirname "$0")/loadtest_lib.bash"
command -v openssl >/dev/null || fail "openssl is missing (it comes with ca-certificates)"

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 2 \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
start_server TLS --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" --chunked
port=$(cat "$T/TLS.port")

loadtest trusted --host "https://localhost:$port" --users 4 --spawn-rate 100 --run-time 2s --wait 0.01,0.02 \
  --ca-file "$T/cert.pem" --csv "$T/trusted"
cat "$T/trusted.log"
[ "$RC" = 0 ] || fail "trusted https run exited $RC"
requests=$(csv_value "$T/trusted_stats.csv" Aggregated "Request Count")
[ "$requests" -ge 20 ] || fail "only $requests requests over https"
# The address itself must match the certificate too (IP subjectAltName).
loadtest by_ip --host "https://127.0.0.1:$port" --users 2 --spawn-rate 100 --run-time 1s --wait 0.01,0.02 --ca-file "$T/cert.pem"
[ "$RC" = 0 ] || { cat "$T/by_ip.log"; fail "https by IP address exited $RC"; }

# The open model over TLS: every intended request is answered on kept-alive TLS connections.
loadtest open --host "https://localhost:$port" --rate 20 --run-time 1s --connections 2 --ca-file "$T/cert.pem" --csv "$T/open"
[ "$RC" = 0 ] || { cat "$T/open.log"; fail "open model over https exited $RC"; }
[ "$(csv_value "$T/open_stats.csv" Aggregated "Request Count")" = 20 ] || { cat "$T/open.log"; fail "open model over https: not 20 requests"; }

loadtest untrusted --host "https://localhost:$port" --users 2 --spawn-rate 100 --run-time 1s --wait 0.05,0.1
cat "$T/untrusted.log"
[ "$RC" = 1 ] || fail "an untrusted certificate must fail the run (exit $RC)"
grep -q "TLS handshake: certificate verify failed" "$T/untrusted.log" || fail "verification failure not reported"

loadtest insecure --host "https://localhost:$port" --users 2 --spawn-rate 100 --run-time 1s --wait 0.01,0.02 --insecure
[ "$RC" = 0 ] || { cat "$T/insecure.log"; fail "--insecure run exited $RC"; }

# Plain HTTP spoken to the TLS port is a handshake failure, not a hang.
loadtest mismatch --host "http://127.0.0.1:$port" --users 1 --run-time 1s --wait 0.2,0.3 --timeout 2s
[ "$RC" = 1 ] || { cat "$T/mismatch.log"; fail "http to a TLS port exited $RC"; }
echo "PASS"
