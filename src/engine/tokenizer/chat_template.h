#pragma once
// Chat templates as Hugging Face's apply_chat_template renders them: the model's `chat_template` (a Jinja2 source
// from tokenizer_config.json or GGUF tokenizer.chat_template) evaluated over the messages with
// `add_generation_prompt`, `bos_token` and `eos_token` in scope. The interpreter covers the Jinja2 subset such
// templates use (for/if/elif/else/set, namespace(), loop.index0/first/last, messages[1:] slices, string
// concatenation with + and ~, comparisons, and/or/not, `is defined`, filters trim/length/upper/lower, the string
// methods strip/title/upper/lower/startswith, raise_exception(), whitespace control with {%- -%} and HF's
// trim_blocks/lstrip_blocks). A construct outside that subset is refused when the template is parsed, with a
// ChatTemplateError naming it, so no template is ever rendered half-understood.
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mlfaas {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", ...
  std::string content;
};

class ChatTemplateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ChatTemplate {
 public:
  // Throws ChatTemplateError("unsupported construct '...' at line L; pass --chat-template FILE ...") or a syntax
  // error with its line.
  explicit ChatTemplate(std::string_view source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;

  // raise_exception("...") in the template throws ChatTemplateError with that message (a bad conversation, such
  // as roles that do not alternate) - the caller's fault, reported as such.
  std::string render(std::span<const ChatMessage> messages, bool add_generation_prompt, const std::string& bos_token,
                     const std::string& eos_token) const;

  struct Node;

 private:
  std::unique_ptr<Node> root_;
};

}  // namespace mlfaas
