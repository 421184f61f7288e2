#pragma once
// AWS Signature Version 4 verification, so that a platform reachable from the network (--allow-remote)
// accepts Invoke API and SNS calls only from clients holding its credentials (the AWS CLI and SDKs sign with
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY as usual).
#include <string>

#include "common/sigv4.h"
#include "platform/http_server.h"

namespace mlfaas::platform {

using Credentials = sigv4::Credentials;

// "" when `req` carries a valid, fresh (15 minutes) SigV4 signature made with `creds`; otherwise the reason.
std::string verify_sigv4(const Request& req, const Credentials& creds);

}  // namespace mlfaas::platform
