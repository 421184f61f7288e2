#pragma once
// AWS Signature Version 4 verification, so that a platform reachable from the network (--allow-remote)
// accepts Invoke API and SNS calls only from clients holding its credentials (the AWS CLI and SDKs sign with
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY as usual).
#include <string>

#include "platform/http_server.h"

namespace mlfaas::platform {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  bool empty() const { return access_key_id.empty() || secret_access_key.empty(); }
};

// "" when `req` carries a valid, fresh (15 minutes) SigV4 signature made with `creds`; otherwise the reason.
std::string verify_sigv4(const Request& req, const Credentials& creds);

}  // namespace mlfaas::platform
