/**
 * One variable of a dotenv-style file, the form a Vault Agent template or a `.env` file renders:
 *
 * ```sh
 * # comment
 * export OPENAI_API_KEY="sk-..."   # `export ` is optional
 * ANTHROPIC_API_KEY='sk-ant-...'   # single quotes: taken literally
 * PLAIN=value                      # unquoted: up to a ` #` comment, surrounding blanks dropped
 * ```
 *
 * Double-quoted values may span lines and take the escapes `\n`, `\r`, `\t`, `\"`, `\\`, `\$`
 * (so a value rendered with consul-template's `toJSON` reads back as written, `\uXXXX` included).
 * A later assignment of the same name wins, as in a shell. Errors name the variable or a line
 * number, never a value: the file's other lines are secrets too.
 *
 * @example
 * dotenvValue('export OPENAI_API_KEY="sk-1"\n', 'OPENAI_API_KEY'); // 'sk-1'
 */
export function dotenvValue(text: string, name: string): string | undefined {
  let found: string | undefined;
  let i = 0;
  let line = 1;
  const n = text.length;
  const fail = (why: string): never => {
    throw new Error(`line ${line} ${why}`);
  };
  while (i < n) {
    // Blank lines, indentation and comment lines.
    const c = text[i]!;
    if (c === '\n') {
      line++;
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    const assignment = /^(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*=[ \t]*/.exec(text.slice(i, text.indexOf('\n', i) < 0 ? n : text.indexOf('\n', i)));
    if (!assignment) fail('is not NAME=value');
    i += assignment![0].length;
    const key = assignment![1]!;
    let value = '';
    const quote = text[i];
    if (quote === '"' || quote === "'") {
      const startLine = line;
      i++;
      for (;;) {
        if (i >= n) {
          line = startLine;
          fail(`has an unterminated ${quote === '"' ? 'double' : 'single'}-quoted value`);
        }
        const ch = text[i]!;
        if (ch === quote) {
          i++;
          break;
        }
        if (ch === '\n') line++;
        if (ch === '\\' && quote === '"' && i + 1 < n) {
          const next = text[i + 1]!;
          const simple: Record<string, string> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\', $: '$', '/': '/' };
          if (next in simple) {
            value += simple[next];
            i += 2;
            continue;
          }
          if (next === 'u' && /^[0-9A-Fa-f]{4}$/.test(text.slice(i + 2, i + 6))) {
            value += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
            i += 6;
            continue;
          }
        }
        value += ch;
        i++;
      }
      // After the closing quote: only blanks and a comment.
      const rest = /^[ \t]*(?:#[^\n]*)?\r?(?:\n|$)/.exec(text.slice(i));
      if (!rest) fail('has text after its closing quote');
      i += rest![0].length;
      if (rest![0].endsWith('\n')) line++;
    } else {
      const end = text.indexOf('\n', i) < 0 ? n : text.indexOf('\n', i);
      value = text.slice(i, end).replace(/\r$/, '');
      const comment = value.search(/[ \t]#/);
      if (comment >= 0) value = value.slice(0, comment);
      value = value.trim();
      i = end + 1;
      line++;
    }
    if (key === name) found = value;
  }
  return found;
}
