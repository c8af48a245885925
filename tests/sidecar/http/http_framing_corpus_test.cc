// The framing corpus (issue 9, item 3): several hundred malformed or ambiguous HTTP/1.1 requests,
// each sent on its own loopback connection to a real HttpListener. Every one must be answered with
// its documented status (400/413/417/431/505), `Connection: close`, nothing after the answer, and
// the connection must close; the counting upstream behind the listener must see none of them.
// Controls (valid near misses) must be accepted, so the rejections are not blanket ones.
//
// Cases come from tests/sidecar/http/corpus/framing.txt (hand-written, one per line) and from the
// generators below (orders x spellings x values, every control character, oversize inputs). A
// failure prints the case's name and its exact bytes, escaped.

#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sidecar/http/edge_test_harness.h"
#include "tests/test_common/paths.h"

namespace sidecar::http {
namespace {

using testing::EdgeUnderTest;
using testing::Escape;
using testing::RawConnection;

constexpr std::chrono::seconds kCaseDeadline{5};

struct Case {
  std::string name;
  std::string bytes;
  int status;
};

// ---- the data file --------------------------------------------------------------------------

// C escapes of the corpus file: \r \n \t \0 \\ \xHH.
absl::StatusOr<std::string> Unescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out.push_back(text[i]);
      continue;
    }
    if (++i == text.size()) return absl::InvalidArgumentError("dangling backslash");
    switch (text[i]) {
      case 'r': out.push_back('\r'); break;
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case '0': out.push_back('\0'); break;
      case '\\': out.push_back('\\'); break;
      case 'x': {
        if (i + 2 >= text.size()) return absl::InvalidArgumentError("short \\x escape");
        int value = 0;
        for (int k = 1; k <= 2; ++k) {
          const char c = text[i + k];
          int digit = (c >= '0' && c <= '9')   ? c - '0'
                      : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                      : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                               : -1;
          if (digit < 0) return absl::InvalidArgumentError("bad \\x escape");
          value = value * 16 + digit;
        }
        out.push_back(static_cast<char>(value));
        i += 2;
        break;
      }
      default:
        return absl::InvalidArgumentError(absl::StrCat("unknown escape \\", std::string(1, text[i])));
    }
  }
  return out;
}

std::vector<Case> LoadCorpusFile() {
  const std::string path = test_common::SourceDir() + "/tests/sidecar/http/corpus/framing.txt";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::vector<Case> cases;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    const size_t sp1 = line.find(' ');
    const size_t sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
    int status = 0;
    if (sp2 == std::string::npos || !absl::SimpleAtoi(line.substr(0, sp1), &status)) {
      ADD_FAILURE() << path << ":" << number << ": expected '<status> <name> <bytes>'";
      continue;
    }
    absl::StatusOr<std::string> bytes = Unescape(std::string_view(line).substr(sp2 + 1));
    if (!bytes.ok()) {
      ADD_FAILURE() << path << ":" << number << ": " << bytes.status();
      continue;
    }
    cases.push_back({line.substr(sp1 + 1, sp2 - sp1 - 1), *std::move(bytes), status});
  }
  return cases;
}

// ---- generated cases ------------------------------------------------------------------------

std::string Hex(unsigned char c) {
  char buf[4];
  std::snprintf(buf, sizeof(buf), "%02x", c);
  return buf;
}

std::vector<Case> Generated() {
  std::vector<Case> cases;
  auto add = [&](std::string name, std::string bytes, int status) {
    cases.push_back({std::move(name), std::move(bytes), status});
  };
  const std::string post = "POST / HTTP/1.1\r\nHost: h\r\n";

  // Content-Length with Transfer-Encoding: both orders, several spellings of each name and of the
  // coding. Whatever the spelling, two framings is one too many.
  const std::vector<std::string> te_names = {"Transfer-Encoding", "transfer-encoding",
                                             "TRANSFER-ENCODING", "tRaNsFeR-eNcOdInG"};
  const std::vector<std::string> cl_names = {"Content-Length", "content-length", "CONTENT-LENGTH"};
  const std::vector<std::pair<std::string, std::string>> te_values = {
      {"chunked", "chunked"}, {"CHUNKED", "upper"}, {"Chunked\t", "tab"}};
  for (int order = 0; order < 2; ++order) {
    for (size_t t = 0; t < te_names.size(); ++t) {
      for (size_t c = 0; c < cl_names.size(); ++c) {
        for (const auto& [value, label] : te_values) {
          const std::string te = te_names[t] + ": " + value + "\r\n";
          const std::string cl = cl_names[c] + ": 5\r\n";
          add(absl::StrCat(order == 0 ? "cl_te" : "te_cl", "_te", t, "_cl", c, "_", label),
              post + (order == 0 ? cl + te : te + cl) + "\r\n5\r\nhello\r\n0\r\n\r\n", 400);
        }
      }
    }
  }

  // Content-Length values that are not 1*DIGIT, under two spellings of the name.
  const std::vector<std::pair<std::string, std::string>> bad_lengths = {
      {"+5", "plus"},         {"-5", "minus"},        {"0x5", "hex"},         {"5,5", "list"},
      {"5;5", "semicolon"},   {"5.0", "decimal"},     {"5e0", "exponent"},    {"", "empty"},
      {"abc", "letters"},     {"five", "word"},       {"-0", "minus_zero"},   {"+0", "plus_zero"},
      {"0x", "hex_prefix"},   {"5\x0b", "vtab"},      {"\x0c" "5", "ff"},     {"5\x7f", "del"},
      {"99999999999999999999", "twenty_digits"},      {"5 ,", "trailing_comma"},
      {"\"5\"", "quoted"},    {std::string("5\0", 2), "nul"},
  };
  for (const auto& name : {std::string("Content-Length"), std::string("content-LENGTH")}) {
    for (const auto& [value, label] : bad_lengths) {
      add(absl::StrCat("cl_bad_", label, name[0] == 'C' ? "" : "_lower"),
          post + name + ": " + value + "\r\n\r\nhello", 400);
    }
  }

  // Chunk-size lines: bare hex digits, then only a well-formed extension list.
  const std::string chunked = post + "Transfer-Encoding: chunked\r\n\r\n";
  const std::vector<std::pair<std::string, std::string>> bad_sizes = {
      {"0x5", "hex_prefix"},      {"0X5", "hex_prefix_upper"}, {"+5", "plus"},
      {"-5", "minus"},            {" 5", "leading_space"},     {"\t5", "leading_tab"},
      {"5 ", "trailing_space"},   {"5\t", "trailing_tab"},     {"5 5", "inner_space"},
      {"5_0", "underscore"},      {"5,", "comma"},             {"5=1", "equals"},
      {"5\"x\"", "quote"},        {"5;", "empty_ext_name"},    {"5;=b", "ext_no_name"},
      {"5;a=", "ext_no_value"},   {"5;a=\"b", "ext_unterminated_quote"},
      {"5;a=b c", "ext_value_space"},                          {"5;a b", "ext_name_space"},
      {"5;a=\"b\x01\"", "ext_quoted_control"},                 {"5;a=(b)", "ext_value_separator"},
      {"5;a=b;", "ext_trailing_semicolon"},                    {"5;\x7f", "ext_del"},
      {"5;a=\xff", "ext_high_byte"},                           {"fffffffffffffffff", "overflow_17"},
      {"10000000000000000", "overflow_2_64"},                  {"0000000000000005", "zeros_16_digits"},
      {std::string("5\0", 2), "nul"}, {"\xef\xbc\x95", "fullwidth_digit"},
  };
  for (const auto& [size, label] : bad_sizes) {
    add("chunk_size_" + label, chunked + size + "\r\nhello\r\n0\r\n\r\n", 400);
  }

  // Control characters inside a header value (HTAB is the one allowed; CR and LF are line
  // framing, covered by the file's bare CR / bare LF cases).
  for (int c = 0; c < 0x20; ++c) {
    if (c == '\t' || c == '\r' || c == '\n') continue;
    add("value_ctl_" + Hex(static_cast<unsigned char>(c)),
        "GET / HTTP/1.1\r\nHost: h\r\nX-A: a" + std::string(1, static_cast<char>(c)) + "b\r\n\r\n", 400);
  }
  add("value_ctl_7f", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7f" "b\r\n\r\n", 400);

  // Header names: every byte that is not a tchar (':' is the separator, CR/LF are framing), and
  // '_' (legal, refused by default).
  std::string not_tchar = "\"(),/;<=>?@[\\]{} _";
  for (int c = 0; c < 0x20; ++c) {
    if (c != '\r' && c != '\n') not_tchar.push_back(static_cast<char>(c));
  }
  not_tchar += "\x7f\x80\xc3\xff";
  for (char c : not_tchar) {
    add("name_char_" + Hex(static_cast<unsigned char>(c)),
        "GET / HTTP/1.1\r\nHost: h\r\nX" + std::string(1, c) + "A: v\r\n\r\n", 400);
  }

  // Request targets: controls, DEL, bytes above 0x7f.
  for (int c = 0; c < 0x20; ++c) {
    if (c == '\r' || c == '\n') continue;
    add("target_ctl_" + Hex(static_cast<unsigned char>(c)),
        "GET /a" + std::string(1, static_cast<char>(c)) + "b HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  }
  for (unsigned char c : {0x7f, 0x80, 0xa0, 0xc3, 0xfe, 0xff}) {
    add("target_byte_" + Hex(c),
        "GET /a" + std::string(1, static_cast<char>(c)) + "b HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  }

  // Methods are case-sensitive: the lower-case spelling of each known one is unknown.
  for (std::string method : {"get", "head", "post", "put", "delete", "options", "patch", "trace"}) {
    add("method_lower_" + method, method + " / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  }

  // Transfer-Encoding on HTTP/1.0, whatever the spelling.
  for (const auto& name : te_names) {
    add("te_http10_" + name, "POST / HTTP/1.0\r\n" + name + ": chunked\r\n\r\n0\r\n\r\n", 400);
  }

  // Oversize heads (431 with the default 16 KiB / 100 fields).
  add("oversize_request_line", "GET /" + std::string(17000, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", 431);
  add("oversize_request_line_no_crlf", "GET /" + std::string(17000, 'a'), 431);
  add("oversize_method", std::string(17000, 'G') + " / HTTP/1.1\r\n\r\n", 431);
  add("oversize_header_value", "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(17000, 'a') + "\r\n\r\n",
      431);
  add("oversize_header_name", "GET / HTTP/1.1\r\nHost: h\r\n" + std::string(17000, 'X') + ": v\r\n\r\n",
      431);
  {
    std::string many = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (int i = 0; i < 101; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
    add("oversize_field_count", many + "\r\n", 431);
    std::string total = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (int i = 0; i < 90; ++i) total += "X-" + std::to_string(i) + ": " + std::string(200, 'v') + "\r\n";
    add("oversize_head_total", total + "\r\n", 431);
  }
  {
    std::string blank;
    for (int i = 0; i < 9000; ++i) blank += "\r\n";
    add("oversize_leading_blank_lines", blank + "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 431);
  }
  add("oversize_trailers",
      chunked + "1\r\nx\r\n0\r\nX-T: " + std::string(17000, 't') + "\r\n\r\n", 431);
  // Chunk extensions: one line over 4 KiB, or many lines over 16 KiB together.
  add("chunk_ext_line_too_long", chunked + "1;a=" + std::string(5000, 'b') + "\r\nx\r\n0\r\n\r\n", 400);
  {
    std::string body;
    for (int i = 0; i < 8; ++i) body += "1;a=" + std::string(3000, 'b') + "\r\nx\r\n";
    add("chunk_ext_total_too_long", chunked + body + "0\r\n\r\n", 400);
  }
  // Oversize bodies (413): announced, or reached chunk by chunk.
  add("oversize_cl_by_one", post + "Content-Length: 1048577\r\n\r\n", 413);
  add("oversize_chunk_single", chunked + "100001\r\n", 413);
  add("oversize_chunks_total",
      chunked + "80000\r\n" + std::string(0x80000, 'a') + "\r\n80000\r\n" + std::string(0x80000, 'b') +
          "\r\n1\r\n",
      413);
  return cases;
}

// ---- the test -------------------------------------------------------------------------------

class HttpFramingCorpusTest : public ::testing::Test {
 protected:
  static std::vector<Case> AllCases() {
    std::vector<Case> cases = LoadCorpusFile();
    for (Case& c : Generated()) cases.push_back(std::move(c));
    return cases;
  }
};

TEST_F(HttpFramingCorpusTest, CorpusHasAtLeast300UniquelyNamedRejections) {
  std::set<std::string> names;
  int rejections = 0;
  for (const Case& c : AllCases()) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name " << c.name;
    if (c.status != 200) ++rejections;
  }
  EXPECT_GE(rejections, 300);
}

TEST_F(HttpFramingCorpusTest, EveryCaseIsAnsweredWithItsStatusClosedAndNeverReachesTheUpstream) {
  auto edge = EdgeUnderTest::Start(HttpListener::Options{});
  ASSERT_TRUE(edge.ok()) << edge.status();
  std::map<int, int> by_status;
  for (const Case& c : AllCases()) {
    const int upstream_before = (*edge)->upstream.requests.load();
    SCOPED_TRACE(absl::StrCat(c.name, " (expect ", c.status, "): \"", Escape(c.bytes), "\""));
    const auto deadline = std::chrono::steady_clock::now() + kCaseDeadline;
    RawConnection conn((*edge)->port());
    ASSERT_TRUE(conn.connected());
    conn.Send(c.bytes);
    std::optional<testing::RawResponse> response = conn.Read(deadline);
    ASSERT_TRUE(response.has_value()) << "no response";
    EXPECT_EQ(response->status, c.status) << response->body;
    if (c.status != 200) {
      EXPECT_EQ(response->Header("Connection"), "close");
      std::string extra;
      EXPECT_TRUE(conn.WaitForClose(deadline, &extra)) << "connection left open";
      EXPECT_EQ(extra, "") << "bytes after the rejection (a smuggled request was answered?)";
    }
    ++by_status[c.status];
    // Per case, so a leak names its case: only controls may reach the upstream. The upstream
    // counts before it answers, so the count is final once the response is read.
    EXPECT_EQ((*edge)->upstream.requests.load() - upstream_before, c.status == 200 ? 1 : 0)
        << "requests that reached the upstream";
  }
  std::string summary;
  for (const auto& [status, n] : by_status) absl::StrAppend(&summary, " ", status, ":", n);
  std::cout << "framing corpus cases by status:" << summary << "\n";
}

TEST_F(HttpFramingCorpusTest, UnderscoresAreAcceptedWhenConfigured) {
  HttpListener::Options options;
  options.allow_underscores_in_header_names = true;
  auto edge = EdgeUnderTest::Start(std::move(options));
  ASSERT_TRUE(edge.ok()) << edge.status();
  RawConnection conn((*edge)->port());
  conn.Send("GET /u HTTP/1.1\r\nHost: h\r\nX_Custom_Header: v\r\n\r\n");
  auto response = conn.Read(std::chrono::steady_clock::now() + kCaseDeadline);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ((*edge)->upstream.requests.load(), 1);
}

}  // namespace
}  // namespace sidecar::http
