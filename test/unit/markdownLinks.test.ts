import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { packageRoot } from '../../src/packageRoot.js';

/** Folders that hold no documentation of this repository (installed, built or generated elsewhere). */
const SKIPPED_FOLDERS = new Set(['node_modules', 'dist', 'reports', '.git', '.tools', '.venv', '.stryker-tmp']);

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.isDirectory()) return SKIPPED_FOLDERS.has(entry.name) || entry.name.startsWith('.') ? [] : markdownFiles(join(dir, entry.name));
    return entry.isFile() && entry.name.endsWith('.md') ? [join(dir, entry.name)] : [];
  });
}

/** The text outside fenced code blocks and inline code, where a `[x](y)` is a link and a `#` line a heading. */
function prose(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split('\n').map((line) => {
    const marker = /^\s*(```|~~~)/.exec(line)?.[1];
    if (marker !== undefined && (fence === undefined || fence === marker)) {
      fence = fence === undefined ? marker : undefined;
      return '';
    }
    return fence === undefined ? line.replace(/`[^`]*`/g, (code) => code.replace(/[[\]()#]/g, ' ')) : '';
  });
}

/** GitHub's heading anchor: the heading's text, lower-cased, punctuation dropped, spaces turned into hyphens; repeats get -1, -2… */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fence: string | undefined;
  for (const line of markdown.split('\n')) {
    const marker = /^\s*(```|~~~)/.exec(line)?.[1];
    if (marker !== undefined && (fence === undefined || fence === marker)) fence = fence === undefined ? marker : undefined;
    const heading = fence === undefined ? /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1] : undefined;
    if (heading === undefined) continue;
    const text = heading.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*]/g, '');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

interface Link {
  readonly line: number;
  readonly target: string;
}

function relativeLinks(markdown: string): Link[] {
  const links: Link[] = [];
  prose(markdown).forEach((line, index) => {
    const targets = [...line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g), ...line.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/g)].map((match) => match[1] ?? '');
    for (const target of targets) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: and the like
      links.push({ line: index + 1, target });
    }
  });
  return links;
}

/** Every way a relative link in `file` fails to resolve: a missing file, or an anchor no heading of the target makes. */
function brokenLinks(file: string): string[] {
  const broken: string[] = [];
  for (const { line, target } of relativeLinks(readFileSync(file, 'utf8'))) {
    const [path = '', anchor] = target.split('#', 2);
    const resolved = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
    const where = `${relative(packageRoot, file)}:${line}: ${target}`;
    if (!existsSync(resolved)) {
      broken.push(`${where} (no ${relative(packageRoot, resolved)})`);
      continue;
    }
    if (anchor === undefined || anchor === '' || !resolved.endsWith('.md') || statSync(resolved).isDirectory()) continue;
    if (!headingAnchors(readFileSync(resolved, 'utf8')).has(decodeURIComponent(anchor))) broken.push(`${where} (no heading makes #${anchor})`);
  }
  return broken;
}

describe('relative links in the Markdown files', () => {
  it("should compute GitHub's anchors for headings with code, punctuation and repeats", () => {
    const anchors = headingAnchors('# What `npm test` runs\n## Redis: eviction, persistence\n```\n# not a heading\n```\n### 0. Once: the repo\n## Redis: eviction, persistence\n');
    assert.deepEqual([...anchors], ['what-npm-test-runs', 'redis-eviction-persistence', '0-once-the-repo', 'redis-eviction-persistence-1']);
  });

  it('should find a missing file and a missing anchor, and pass a link that resolves', () => {
    const links = relativeLinks('[a](docs/api.md) [b](#here) `[c](not/a/link.md)` [d](https://example.com/x.md)\n```\n[e](inside/a/fence.md)\n```\n[f]: other.md#top\n');
    assert.deepEqual(
      links.map((link) => link.target),
      ['docs/api.md', '#here', 'other.md#top'],
    );
  });

  const files = markdownFiles(packageRoot);

  it('should check README.md and every page under docs/', () => {
    const names = files.map((file) => relative(packageRoot, file));
    for (const page of ['README.md', 'docs/api.md', 'docs/configuration.md', 'docs/history.md', 'docs/operations.md']) assert.ok(names.includes(page), page);
  });

  for (const file of files) {
    it(`${relative(packageRoot, file)}: every relative link and anchor should resolve`, () => {
      assert.deepEqual(brokenLinks(file), []);
    });
  }
});
