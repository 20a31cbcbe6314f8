#pragma once
// docs/openapi.yaml, embedded at build time so that a deployed binary serves the document it was built with.
#include <string>

namespace bento::node {
const std::string& openapi_document();
}
