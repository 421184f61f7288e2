#pragma once
// A minimal S3 (rest-xml) for code over Lambda's 50 MB direct-upload limit and for experiment data: buckets
// (CreateBucket, HeadBucket, DeleteBucket, ListBuckets), objects (PutObject, GetObject with a Range, HeadObject,
// DeleteObject, ListObjectsV2 and ListObjects) and multipart uploads (CreateMultipartUpload, UploadPart,
// CompleteMultipartUpload, AbortMultipartUpload), as `aws s3 cp` uses them. Path-style addressing
// (http://host:port/bucket/key), and virtual-host style where the Host is <bucket>.<serve's host>. Stored under
// one directory: <dir>/<bucket>/objects/<sha256 of the key>{,.json} (bytes, then key, size, ETag, time, type) and
// <dir>/<bucket>/uploads/<id>/ (parts until completed). Requests are told apart from the others by their
// signature's credential scope (…/s3/aws4_request); unsigned requests are not S3's.
#include <string>

#include "platform/http_server.h"

namespace mlfaas::platform::aws {

class S3Api {
 public:
  // `host` is serve's --host, for virtual-host style requests.
  S3Api(const std::string& dir, std::string host, std::string region);
  static bool handles(const Request& req);
  Response handle(Request&& req);
  // An object's bytes, for the Lambda API's Code.S3Bucket/S3Key; throws ApiError in Lambda's words.
  std::string read_for_lambda(const std::string& bucket, const std::string& key) const;

 private:
  std::string dir_, host_, region_;
};

}  // namespace mlfaas::platform::aws
