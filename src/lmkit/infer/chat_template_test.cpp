// Chat templates against Jinja2 itself: tests/fixtures/infer/chat_templates.json holds the
// renderings (or errors) of every template in ../shared/assets/chat-templates for a set of
// conversations, made by make_chat_fixtures.py with Debian's python3-jinja2 configured as
// transformers configures it. Plus unit tests of the Jinja features one by one.
#include "lmkit/infer/chat_template.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lmkit/core/error.h"
#include "lmkit/core/test_support.h"

namespace lmkit {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

std::string render(const std::string& tmpl, const json& ctx = json::object()) {
  return ChatTemplate(tmpl).render(ctx);
}

TEST(ChatTemplate, MatchesJinja2OnTheSharedTemplates) {
  const std::string dir = test::assets_dir() + "/chat-templates";
  LMKIT_SKIP_IF_ABSENT(dir);
  const json fx = json::parse(test::read_file(test::fixture("infer/chat_templates.json")));
  std::tm tm{};
  tm.tm_year = 2025 - 1900;
  tm.tm_mon = 2;
  tm.tm_mday = 15;
  tm.tm_hour = 12;
  tm.tm_isdst = -1;
  const std::time_t now = std::mktime(&tm);
  int n = 0;
  for (const auto& c : fx["cases"]) {
    ChatTemplate t(test::read_file(dir + "/" + c["template"].get<std::string>()));
    t.set_now(now);
    const std::string what = c["template"].get<std::string>() + " / " + c["conversation"].get<std::string>();
    if (c.contains("error")) {
      try {
        t.render(c["context"]);
        ADD_FAILURE() << what << ": expected the error '" << c["error"] << "'";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(c["error"].get<std::string>()), std::string::npos)
            << what << ": " << e.what();
      }
    } else {
      EXPECT_EQ(t.render(c["context"]), c["output"].get<std::string>()) << what;
    }
    ++n;
  }
  EXPECT_GE(n, 60);
}

TEST(ChatTemplate, WhitespaceControl) {
  // trim_blocks: the newline after a block tag goes; lstrip_blocks: indentation before it.
  EXPECT_EQ(render("a\n  {% if true %}\n  b\n  {% endif %}\nc"), "a\n  b\nc");
  EXPECT_EQ(render("a  {{- 'x' -}}  b"), "axb");
  EXPECT_EQ(render("a {%- if true -%} \n b {%- endif %}"), "ab");
  EXPECT_EQ(render("{# comment #}\nx"), "x");
  EXPECT_EQ(render("  {%+ if true %}y{% endif %}"), "  y");
  EXPECT_EQ(render("{% if true +%}\nz{% endif %}"), "\nz");
  EXPECT_EQ(render("{{ 'v' }}\nw"), "v\nw");  // no trimming after an expression
}

TEST(ChatTemplate, ExpressionsAndFilters) {
  const json ctx = {{"xs", {3, 1, 2}}, {"d", {{"a", 1}, {"b", "two"}}}, {"s", "  Hi There  "}};
  EXPECT_EQ(render("{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ 1 / 2 }}"),
            "7 3 -4 1 1024 0.5");
  EXPECT_EQ(render("{{ xs|length }} {{ xs[0] }} {{ xs[-1] }} {{ xs[::-1] }} {{ xs[1:] }}", ctx),
            "3 3 2 [2, 1, 3] [1, 2]");
  EXPECT_EQ(render("{{ s|trim }}|{{ s.strip() }}|{{ s.lstrip() }}|{{ s|upper }}", ctx),
            "Hi There|Hi There|Hi There  |  HI THERE  ");
  EXPECT_EQ(render("{{ d.a }} {{ d['b'] }} {{ d.c is defined }} {{ 'a' in d }} {{ d|tojson }}", ctx),
            "1 two False True {\"a\": 1, \"b\": \"two\"}");
  EXPECT_EQ(render("{% for k, v in d|items %}{{ k }}={{ v }}{% if not loop.last %},{% endif %}{% endfor %}", ctx),
            "a=1,b=two");
  EXPECT_EQ(render("{{ xs|sort|join('-') }} {{ xs|select('odd')|list }} {{ 'a,b'.split(',') }}", ctx),
            "1-2-3 [3, 1] ['a', 'b']");
  EXPECT_EQ(render("{{ 'yes' if xs else 'no' }} {{ none is none }} {{ 3 is not string }} {{ x|default('dflt') }}", ctx),
            "yes True True dflt");
  EXPECT_EQ(render("{{ 'ab' ~ 1 ~ true }} {{ 'x' * 3 }} {{ [1] + [2] }}"), "ab1True xxx [1, 2]");
}

TEST(ChatTemplate, LoopsScopesAndNamespaces) {
  // A set inside a loop does not leak out of it; a namespace attribute does.
  EXPECT_EQ(render("{% set x = 1 %}{% for i in range(3) %}{% set x = i %}{% endfor %}{{ x }}"), "1");
  EXPECT_EQ(render("{% set ns = namespace(x=1) %}{% for i in range(3) %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}"),
            "4");
  EXPECT_EQ(render("{% for i in range(10) if i is even %}{{ loop.index }}:{{ i }} {% endfor %}"),
            "1:0 2:2 3:4 4:6 5:8 ");
  EXPECT_EQ(render("{% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}{% if i == 1 %}{% continue %}{% endif %}{{ i }}{% endfor %}"),
            "02");
  EXPECT_EQ(render("{% for i in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% if 0 %}a{% elif 1 %}b{% else %}c{% endif %}"), "b");
}

TEST(ChatTemplate, ErrorsNameTheLine) {
  EXPECT_THROW(ChatTemplate("{% if x %}never closed"), Error);
  EXPECT_THROW(ChatTemplate("{{ 1 + }}"), Error);
  EXPECT_THROW(ChatTemplate("{% macro m() %}{% endmacro %}"), Error);
  try {
    render("line1\n{{ raise_exception('boom') }}");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("boom"), std::string::npos);
  }
  try {
    render("a\nb\n{{ 1 + 'x' }}");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }
}

TEST(ChatTemplate, ApplyBuildsTheUsualContext) {
  ChatTemplate t("{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
                 "{% if add_generation_prompt %}<assistant>{% endif %}");
  EXPECT_EQ(t.apply({{"system", "S"}, {"user", "U"}}, true, "<s>", "</s>"),
            "<s><system>S<user>U<assistant>");
}

}  // namespace
}  // namespace lmkit
