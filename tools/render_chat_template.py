#!/usr/bin/python3
"""Renders chat templates exactly as Hugging Face transformers 4.36 apply_chat_template does, to make expected
outputs for the C++ interpreter (src/engine/tokenizer/chat_template.cc). Needs only Debian's python3-jinja2.

HF compiles the template with jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True),
adds a global raise_exception(message) that raises TemplateError(message), and renders it with messages=...,
add_generation_prompt=... and the special tokens as variables. Our engine passes bos_token and eos_token (the
ones templates use), so this does too.

  render_chat_template.py TEMPLATE.jinja MESSAGES.json [--add-generation-prompt] [--bos S] [--eos S]
      prints the rendering (MESSAGES.json: a list of {"role", "content"} objects)
  render_chat_template.py --generate DIR
      renders every DIR/*.jinja over the conversations below, with and without add_generation_prompt, and
      writes DIR/expected.jsonl: {template, messages, add_generation_prompt, bos_token, eos_token} plus
      "rendered", or "error" and "raised" (true when the template called raise_exception) when it failed;
      and DIR/snippets.jsonl: a header row with the messages, then {source, rendered | error, raised} for small
      templates that pin down the lexer's whitespace rules and Python's value semantics.
"""
import argparse
import json
import pathlib
import sys

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment


class RaisedByTemplate(TemplateError):
    pass


def raise_exception(message):
    raise RaisedByTemplate(message)


def compile_template(source):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(source)


def render(source, messages, add_generation_prompt, bos_token, eos_token):
    return compile_template(source).render(
        messages=messages, add_generation_prompt=add_generation_prompt, bos_token=bos_token, eos_token=eos_token
    )


def msg(role, content):
    return {"role": role, "content": content}


CONVERSATIONS = [
    [msg("user", "Hello!")],
    [msg("system", "You are a friendly chatbot."), msg("user", "How many legs does a cat have?")],
    [msg("user", "Tell me a story."), msg("assistant", "Once upon a time..."), msg("user", "Continue.")],
    [
        msg("system", "Answer briefly."),
        msg("user", "What is 2+2?"),
        msg("assistant", "4"),
        msg("user", "And 3+3?"),
        msg("assistant", "6"),
    ],
    [msg("user", ""), msg("assistant", ""), msg("user", "")],
    [msg("user", "Grüße, 世界! 😀 — ça va? Ünïcödé ΣΊΣΥΦΟΣ")],
    [msg("user", "  padded\u00a0\t "), msg("assistant", "   I am an assistant   "), msg("user", "\u3000ideographic space\u3000")],
    [msg("system", "line one\nline two\n\n  indented\n"), msg("user", "first\r\nsecond\n"), msg("assistant", "a\n\nb")],
    [msg("user", "{{ not a tag }} {% if x %} {# no comment #} <s> </s> [INST]")],
    [msg("user", "one"), msg("user", "two")],
    [msg("assistant", "I speak first")],
    [msg("system", "Only a system prompt.")],
    [msg("user", "Use a tool."), msg("tool", "42"), msg("assistant", "It is 42.")],
    [],
]


# Small templates for the lexer's whitespace rules and Python value semantics, rendered over SNIPPET_MESSAGES.
SNIPPET_MESSAGES = [msg("system", " Be brief. "), msg("user", "Hi!"), msg("assistant", "Hello\nthere")]
SNIPPETS = [
    "a\n  {% if true %}\n  b\n  {% endif %}\nc",
    "  {% if true %}x{% endif %}  \n  {{ 'y' }}  \n",
    "{{ 'a' }}  {% if true %}b{% endif %}",
    "x  {%- if true -%}  y  {%- endif -%}  z",
    "x\n\n  {%- if true %}\n\n  y{% endif %}",
    "  {%+ if true %}kept{% endif %}",
    "{% if true +%}\nnot trimmed{% endif %}",
    "{{- ' a ' -}}  \n  {{ 'b' }}",
    "  {# comment #}\nafter",
    "a{#- c -#}   b",
    "line\r\nwindows\rold mac\n",
    "{% for m in messages %}\n  {{ m.role }}\n{% endfor %}",
    "{% for m in messages -%}\n  {{ m.role }}\n{%- endfor %}",
    "{%- for m in messages %}\t{{ m.content }}{% endfor %}",
    "{{ messages[1:] | length }} {{ messages[-1].role }} {{ messages[0]['content'] }}|{{ messages[9] }}|",
    "{{ messages[0].content.strip() }}|{{ messages[0].content | trim }}",
    "{{ none }} {{ true }} {{ false }} {{ 0 }} {{ -3 }} {{ [] }} {{ {} }} {{ [none, 'it\\'s', \"q\\\"\"] }}",
    "{{ 'a' ~ 1 ~ none ~ true ~ undefined_name }}",
    "{{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ -7 // 2 }} {{ 2 ** 3 ** 2 }} {{ 1 + 2 * 3 - 4 }} {{ 'ab' * 2 }} {{ [1] + [2] }}",
    "{{ 1 == 1 if false else 'cond' }} {{ 'yes' if 0 else 'no' }} {{ 'x' if true }}|{{ 'x' if false }}|",
    "{{ 1 and 'b' }} {{ 0 or '' or 'c' }} {{ not none }} {{ '' and 'z' }}|{{ none or none }}",
    "{{ 'abc'[1] }} {{ 'héllo'[1:3] }} {{ 'abcdef'[::2] }} {{ 'abcdef'[-2:] }} {{ [1,2,3,4][::-1] }} {{ [1,2,3][5:] }}",
    "{{ undefined_name is defined }} {{ undefined_name is undefined }} {{ messages is defined }} {{ messages[7] is defined }}",
    "{{ 'x' is string }} {{ 1 is number }} {{ true is boolean }} {{ none is none }} {{ 1 is not none }} {{ [] is sequence }} {{ {} is mapping }}",
    "{{ undefined_name | length }} {{ undefined_name | trim }}|{{ undefined_name | default('d') }} {{ none | default('d') }} {{ none | default('d', true) }}",
    "{{ 'hello world' | title }} {{ 'they\\'re ok' | title }} {{ \"they're ok\".title() }} {{ 'ÉCOLE' | lower }} {{ 'ça' | upper }} {{ 'hELLO' | capitalize }}",
    "{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith('bc') }} {{ 'abc'.startswith(('x', 'a')) }} {{ '--a--'.strip('-') }}",
    "{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}",
    "{% set ns = namespace(x=1) %}{% for i in [1, 2] %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}",
    "{% for i in [] %}x{% else %}empty{% endfor %}{% for i in [1, 2, 3] if i > 1 %}{{ loop.index }}{{ i }}{{ loop.length }}{% endfor %}",
    "{% for a in [1, 2] %}{% for b in [3, 4] %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.last }}{% endfor %}",
    "{{ undefined_name.attr }}",
    "{{ undefined_name + 'x' }}",
    "{{ 1 + 'x' }}",
    "{{ messages[0] }}",
    "{{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 2 > 1 > 0 }} {{ 1 != 2 }} {{ 'b' in {'b': 1} }} {{ 2 in [1, 2] }} {{ 'x' in undefined_name }}",
    "{{ raise_exception('custom ' ~ 42) }}",
    "{{ 'unicode escapes: \\u00e9 \\x41 \\101 \\q' }}",
    "{% if messages %}{% if messages | length > 2 %}{% set deep = 'yes' %}{% endif %}{% endif %}{{ deep }}",
    "{{ {'a': 1}.get('a') }} {{ {'a': 1}.get('b') }} {{ {'a': 1}.get('b', 2) }} {{ {'a': 1, 'b': 2}.keys() | join(',') }} {{ {'a': 1}.items() | length }}",
    "{% for k in {'z': 1, 'a': 2} %}{{ k }}{% endfor %} {% for c in 'ab' %}{{ c }}{{ loop.revindex }}{% endfor %}",
    "{{ range(3) | join }} {{ range(1, 7, 2) | join(',') }} {{ [1, 2] | first }} {{ [] | first }}|{{ ['a', 1] | join }}",
    "{{ messages | tojson }}",
    "{{ {'b': [1, none, true], 'a': {'z': 'é😀<>&\\'\"\\\\\\n\\t\\x7f'}, 'c': []} | tojson(indent=2) }}",
    "{{ 'x<' + ([1] | tojson) }} {{ ([1] | tojson) + '>y' }} {{ ('a' | tojson) ~ '<' }} {{ ('\"a\"' | tojson)[1:] + '&' }}",
    "{{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ messages | rejectattr('role', 'in', ['user', 'system']) | list | length }}",
    "{% for m in messages | selectattr('content') %}{{ m.role }},{% endfor %} {{ [1, 2, 3, 4] | select('odd') | join }} {{ [1, 2, 3] | reject('equalto', 2) | list }}",
    "{{ {'a': 1, 'b': 2} | items | list }} {% for k, v in {'x': 'y'} | items %}{{ k }}={{ v }}{% endfor %} {{ undefined_name | items | list }}",
    "{{ 'a-b-c' | replace('-', '+') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'ab'.replace('', '.') }} {{ 'hello'.replace('l', 'L', 1) }}",
    "{{ 'a b  c '.split() }} {{ '  a b c '.split(none, 1) }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ ''.split() }} {{ ''.split(',') }}",
    "{{ (1, 'a') }} {{ (1,) }} {{ () }} {{ ('a', 'b')[1:] }} {{ (1, 2) == [1, 2] }} {% set t = 1, 2 %}{{ t }}",
    "{% if strftime_now is defined %}{{ strftime_now('%Y') }}{% else %}no clock{% endif %} {{ 'tool_calls' in messages[0] }} {{ 'role' in messages[0] }}",
    "{{ messages[1].content is mapping or messages[1].content is iterable }} {{ messages[1].content | tojson }}",
    "{% for x in [] %}{% else %}{% set y = 1 %}{{ y }}{% endfor %}[{{ y }}] {{ 1if true else 2 }} {{ 1_000 }} {{ 0 }} {{ 00 }}",
    "{% for a, b in [[1, 2], 'xy'] %}{{ a }}{{ b }}{% endfor %} {{ true + 1 }} {{ true ~ 1 }} {{ 3 // true }} {{ 'x' ~ [1] }}",
    "{{ 'a\\\nb' }} {{ 'ǆ'.title() }} {{ 'ǆa' | capitalize }} {{ 'ÉA' | lower }} {{ messages[5].role if messages[5] else 'none' }}",
    "{{ 011 }}",
    "{{ 1__0 }}",
    "{% if 1 if true else 0 %}x{% endif %}",
    "{% for a, b in [[1, 2, 3]] %}{{ a }}{% endfor %}",
]


def generate_snippets(directory):
    rows = []
    for source in SNIPPETS:
        row = {"source": source}
        try:
            row["rendered"] = render(source, SNIPPET_MESSAGES, True, "<s>", "</s>")
        except RaisedByTemplate as e:
            row["error"] = str(e)
            row["raised"] = True
        except Exception as e:
            row["error"] = f"{type(e).__name__}: {e}"
            row["raised"] = False
        rows.append(row)
    with open(pathlib.Path(directory) / "snippets.jsonl", "w", encoding="utf-8") as out:
        out.write(json.dumps({"messages": SNIPPET_MESSAGES, "add_generation_prompt": True, "bos_token": "<s>",
                              "eos_token": "</s>"}, ensure_ascii=False) + "\n")
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} snippets to {pathlib.Path(directory) / 'snippets.jsonl'}", file=sys.stderr)


def generate(directory):
    directory = pathlib.Path(directory)
    rows = []
    for path in sorted(directory.glob("*.jinja")):
        source = path.read_text(encoding="utf-8")
        template = compile_template(source)
        for messages in CONVERSATIONS:
            for add_generation_prompt in (False, True):
                row = {
                    "template": path.name,
                    "messages": messages,
                    "add_generation_prompt": add_generation_prompt,
                    "bos_token": "<s>",
                    "eos_token": "</s>",
                }
                try:
                    row["rendered"] = template.render(
                        messages=messages,
                        add_generation_prompt=add_generation_prompt,
                        bos_token=row["bos_token"],
                        eos_token=row["eos_token"],
                    )
                except RaisedByTemplate as e:
                    row["error"] = str(e)
                    row["raised"] = True
                except Exception as e:  # UndefinedError, TypeError, ...: the C++ side must fail too
                    row["error"] = f"{type(e).__name__}: {e}"
                    row["raised"] = False
                rows.append(row)
    with open(directory / "expected.jsonl", "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {directory / 'expected.jsonl'}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("template", nargs="?")
    parser.add_argument("messages", nargs="?")
    parser.add_argument("--add-generation-prompt", action="store_true")
    parser.add_argument("--bos", default="<s>")
    parser.add_argument("--eos", default="</s>")
    parser.add_argument("--generate", metavar="DIR")
    args = parser.parse_args()
    if args.generate:
        generate(args.generate)
        generate_snippets(args.generate)
        return
    if not args.template or not args.messages:
        parser.error("TEMPLATE and MESSAGES are required without --generate")
    source = pathlib.Path(args.template).read_text(encoding="utf-8")
    messages = json.loads(pathlib.Path(args.messages).read_text(encoding="utf-8"))
    sys.stdout.write(render(source, messages, args.add_generation_prompt, args.bos, args.eos))


if __name__ == "__main__":
    main()
