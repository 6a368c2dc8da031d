// A small Markdown renderer for model answers: every piece of text is HTML-escaped before any markup
// is added, and links keep only http(s)/mailto targets, so model output cannot inject HTML or script.
// Covers what chat answers use: fenced code (highlighted), headings, lists, quotes, tables, rules,
// and inline code, bold, italic, strike-through and links.
"use strict";

window.KimiMarkdown = (() => {
  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (char) => ESCAPES[char]);
  }

  // One regex per token kind; the first alternative that matches at a position wins.
  const TOKENS = [
    ["comment", String.raw`\/\/[^\n]*|\/\*[\s\S]*?\*\/|#[^\n]*|--[^\n]*`],
    ["string", String.raw`"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|\x60(?:\\.|[^\x60\\])*\x60`],
    ["number", String.raw`\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b|\b0x[0-9a-f]+\b`],
    ["keyword", String.raw`\b(?:def|class|return|if|elif|else|for|while|in|import|from|as|with|try|except|`
      + String.raw`finally|raise|yield|lambda|pass|break|continue|and|or|not|is|None|True|False|function|`
      + String.raw`const|let|var|new|this|async|await|export|default|switch|case|throw|catch|typeof|null|`
      + String.raw`undefined|true|false|public|private|static|void|int|string|bool|struct|fn|pub|impl|mut|`
      + String.raw`match|package|func|go|select|SELECT|FROM|WHERE|INSERT|UPDATE|DELETE|JOIN|echo|then|fi|do|done)\b`],
  ];
  const TOKEN_RE = new RegExp(TOKENS.map(([, source]) => `(${source})`).join("|"), "gi");

  /** Escaped code with comments, strings, numbers and keywords wrapped in <span class="tok-…">. */
  function highlight(code, language) {
    if (["text", "plain", "plaintext", "txt"].includes(language)) return escapeHtml(code);
    let html = "";
    let last = 0;
    for (const match of code.matchAll(TOKEN_RE)) {
      const kind = TOKENS[match.slice(1).findIndex((group) => group !== undefined)][0];
      // `#` starts a comment only in languages that use it; `--` only in SQL/Lua/Haskell.
      if (kind === "comment" && match[0].startsWith("#") && /^(js|javascript|ts|typescript|json|c|cpp|java|css)$/.test(language)) continue;
      if (kind === "comment" && match[0].startsWith("--") && !/^(sql|lua|haskell|hs)$/.test(language)) continue;
      html += escapeHtml(code.slice(last, match.index));
      html += `<span class="tok-${kind}">${escapeHtml(match[0])}</span>`;
      last = match.index + match[0].length;
    }
    return html + escapeHtml(code.slice(last));
  }

  function safeUrl(url) {
    return /^(https?:|mailto:)/i.test(url) ? url : null;
  }

  /** Inline Markdown of one escaped-later line: code spans are cut out first so nothing inside them is parsed. */
  function inline(text) {
    return text.split(/(`[^`\n]+`)/).map((piece, index) => {
      if (index % 2) return `<code>${escapeHtml(piece.slice(1, -1))}</code>`;
      let html = escapeHtml(piece);
      html = html.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (match, label, url) => {
        const target = safeUrl(url.replace(/&amp;/g, "&"));
        return target ? `<a href="${escapeHtml(target)}" rel="noopener noreferrer nofollow">${label}</a>` : match;
      });
      html = html.replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, "<strong>$1</strong>");
      html = html.replace(/__(?=\S)([\s\S]*?\S)__/g, "<strong>$1</strong>");
      html = html.replace(/(^|[^*])\*(?=\S)([^*]*?\S)\*/g, "$1<em>$2</em>");
      html = html.replace(/(^|[\s(])_(?=\S)([^_]*?\S)_(?=[\s).,!?:;]|$)/g, "$1<em>$2</em>");
      return html.replace(/~~(?=\S)([\s\S]*?\S)~~/g, "<del>$1</del>");
    }).join("");
  }

  const BLOCK_START = /^(#{1,6}\s|```|~~~|>|\s*([-*+]|\d+[.)])\s|\s*([-*_])(\s*\3){2,}\s*$)/;

  function splitRow(line) {
    return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((cell) => cell.trim());
  }

  /** HTML for a Markdown text (an unfinished stream renders fine: an open fence runs to the end). */
  function render(markdown) {
    const lines = String(markdown).replace(/\r\n?/g, "\n").split("\n");
    const out = [];
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      const fence = line.match(/^\s*(```|~~~)\s*([\w+#.-]*)/);
      if (fence) {
        const code = [];
        for (i += 1; i < lines.length && !lines[i].trim().startsWith(fence[1]); i += 1) code.push(lines[i]);
        i += 1;
        const language = fence[2].toLowerCase();
        const label = language ? ` data-language="${escapeHtml(language)}"` : "";
        out.push(`<pre class="code"${label}><code>${highlight(code.join("\n"), language)}</code></pre>`);
      } else if (!line.trim()) {
        i += 1;
      } else if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
        out.push("<hr>");
        i += 1;
      } else if (/^#{1,6}\s/.test(line)) {
        const level = line.match(/^#+/)[0].length;
        out.push(`<h${level}>${inline(line.replace(/^#+\s*/, "").replace(/\s#+\s*$/, ""))}</h${level}>`);
        i += 1;
      } else if (/^>/.test(line)) {
        const quoted = [];
        for (; i < lines.length && /^>/.test(lines[i]); i += 1) quoted.push(lines[i].replace(/^>\s?/, ""));
        out.push(`<blockquote>${render(quoted.join("\n"))}</blockquote>`);
      } else if (/^\s*([-*+]|\d+[.)])\s/.test(line)) {
        const ordered = /^\s*\d/.test(line);
        const items = [];
        for (; i < lines.length && lines[i].trim(); i += 1) {
          const item = lines[i].match(/^\s*(?:[-*+]|\d+[.)])\s+(.*)$/);
          if (item) items.push(item[1]);
          else items[items.length - 1] += `\n${lines[i].trim()}`; // a wrapped item continues
        }
        const tag = ordered ? "ol" : "ul";
        out.push(`<${tag}>${items.map((item) => `<li>${inline(item)}</li>`).join("")}</${tag}>`);
      } else if (line.includes("|") && i + 1 < lines.length && /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/.test(lines[i + 1])) {
        const head = splitRow(line);
        const rows = [];
        for (i += 2; i < lines.length && lines[i].includes("|"); i += 1) rows.push(splitRow(lines[i]));
        const cells = (row, tag) => row.map((cell) => `<${tag}>${inline(cell)}</${tag}>`).join("");
        out.push(`<div class="table-wrap"><table><thead><tr>${cells(head, "th")}</tr></thead><tbody>`
          + rows.map((row) => `<tr>${cells(row, "td")}</tr>`).join("") + "</tbody></table></div>");
      } else {
        const paragraph = [];
        for (; i < lines.length && lines[i].trim() && (!paragraph.length || !BLOCK_START.test(lines[i])); i += 1) {
          paragraph.push(lines[i]);
        }
        out.push(`<p>${paragraph.map(inline).join("<br>")}</p>`);
      }
    }
    return out.join("\n");
  }

  return { render, highlight, escapeHtml };
})();
