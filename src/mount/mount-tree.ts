/**
 * The directory tree a FastFile mount shows, built once from the channel's listing (a snapshot:
 * objects added or removed later are not seen, as SageMaker's FastFile "identifies the data files"
 * at the start). Paths are laid out exactly as File mode downloads them (channelRelativePath: the
 * key below the prefix's directory part), with "/" as the delimiter; folders are implied by keys.
 * A key that would not be a file below the mount point (`..`, empty segments) or that is both a
 * file and a folder (`a` and `a/b`) is refused with UnsafeKeyError, as File mode refuses it.
 *
 * Files keep their listing index: the order in which a reader going through the dataset "in order"
 * opens them, which the next-files prefetcher follows. Sizes, versions (ETag) and mtimes come
 * from the listing; a folder's mtime is its newest file's.
 */
import { UnsafeKeyError } from '../core/errors.js';
import { staysBelowFolder } from '../channel/key-path.js';
import { compareKeys, type ObjectInfo, type ObjectStore } from '../storage/object-store.js';

export interface FileNode {
  readonly kind: 'file';
  /** "/a/b.csv": the path below the mount point, as FUSE names it. */
  readonly path: string;
  /** Position in listing order (0-based). */
  readonly index: number;
  readonly store: ObjectStore;
  readonly info: ObjectInfo;
  readonly mtimeMs: number;
}

export interface DirNode {
  readonly kind: 'dir';
  readonly path: string;
  /** Entry names in UTF-8 byte order. */
  readonly names: string[];
  readonly children: Map<string, TreeNode>;
  mtimeMs: number;
  /** Sub-folders, for nlink. */
  subdirs: number;
}

export type TreeNode = FileNode | DirNode;

/** One object to show: where it lives, its listed version, and its path below the mount point. */
export interface MountEntry {
  readonly store: ObjectStore;
  readonly info: ObjectInfo;
  /** Relative path, "a/b.csv" (see channelRelativePath). */
  readonly rel: string;
}

export class MountTree {
  readonly root: DirNode;
  /** Every file, in listing order (index = position). */
  readonly files: readonly FileNode[];
  readonly totalBytes: number;
  /** The largest file's size (0 when there are none). */
  readonly largestFile: number;
  readonly #byPath: Map<string, TreeNode>;

  private constructor(root: DirNode, files: FileNode[], byPath: Map<string, TreeNode>) {
    this.root = root;
    this.files = files;
    this.#byPath = byPath;
    this.totalBytes = files.reduce((n, f) => n + f.info.size, 0);
    this.largestFile = files.reduce((most, f) => Math.max(most, f.info.size), 0);
  }

  /** The node at a FUSE path ("/" is the root), or undefined. */
  lookup(path: string): TreeNode | undefined {
    return this.#byPath.get(path);
  }

  /**
   * Builds the tree. Entries are taken in key order whatever order they come in; `fallbackMtimeMs`
   * stands in for objects whose store gave no mtime.
   */
  static build(entries: readonly MountEntry[], fallbackMtimeMs: number): MountTree {
    const root: DirNode = { kind: 'dir', path: '/', names: [], children: new Map(), mtimeMs: 0, subdirs: 0 };
    const byPath = new Map<string, TreeNode>([['/', root]]);
    const sorted = [...entries].sort((a, b) => compareKeys(a.info.key, b.info.key));
    const files: FileNode[] = [];
    for (const entry of sorted) {
      if (!staysBelowFolder(entry.rel)) {
        throw new UnsafeKeyError(`cannot mount ${entry.store.uriOf(entry.info.key)}: its key would be "${entry.rel}", not a file below the mount point`, {
          uri: entry.store.uriOf(entry.info.key),
        });
      }
      const segments = entry.rel.split('/');
      const mtimeMs = entry.info.mtimeMs ?? fallbackMtimeMs;
      let dir = root;
      const parents: DirNode[] = [root];
      for (let i = 0; i < segments.length - 1; i++) {
        const name = segments[i] as string;
        const existing = dir.children.get(name);
        if (existing?.kind === 'file') throw conflict(entry, existing.path);
        if (existing === undefined) {
          const child: DirNode = { kind: 'dir', path: `${dir.path === '/' ? '' : dir.path}/${name}`, names: [], children: new Map(), mtimeMs: 0, subdirs: 0 };
          dir.children.set(name, child);
          dir.names.push(name);
          dir.subdirs++;
          byPath.set(child.path, child);
          dir = child;
        } else {
          dir = existing;
        }
        parents.push(dir);
      }
      const name = segments[segments.length - 1] as string;
      const path = `${dir.path === '/' ? '' : dir.path}/${name}`;
      if (dir.children.has(name)) throw conflict(entry, path);
      const file: FileNode = { kind: 'file', path, index: files.length, store: entry.store, info: entry.info, mtimeMs };
      files.push(file);
      dir.children.set(name, file);
      dir.names.push(name);
      byPath.set(path, file);
      for (const p of parents) if (mtimeMs > p.mtimeMs) p.mtimeMs = mtimeMs;
    }
    if (root.mtimeMs === 0) root.mtimeMs = fallbackMtimeMs;
    // key order puts "a/b" after "a-c" ('/' > '-'), so names are sorted per folder, once
    for (const node of byPath.values()) if (node.kind === 'dir') node.names.sort(compareKeys);
    return new MountTree(root, files, byPath);
  }
}

function conflict(entry: MountEntry, path: string): UnsafeKeyError {
  return new UnsafeKeyError(`cannot mount ${entry.store.uriOf(entry.info.key)}: "${path}" would be both a file and a folder`, {
    uri: entry.store.uriOf(entry.info.key),
  });
}
