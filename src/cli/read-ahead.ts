/**
 * Starts reading the folders of a command's local channels while the command's own modules load
 * (FileStore's `readFolderAhead`), so that a large flat folder's readdir overlaps that loading.
 * Only a hint: a source that does not parse, or an S3 one, is left alone here, and the command
 * reports and lists as it always does.
 */
import type { SourceUri } from '../storage/source-uri.js';

export async function readChannelsAhead(sources: readonly (string | SourceUri)[]): Promise<void> {
  const { parseSourceUri } = await import('../storage/source-uri.js');
  const keys: string[] = [];
  for (const source of sources) {
    try {
      const uri = typeof source === 'string' ? parseSourceUri(source) : source;
      if (uri.kind === 'file') keys.push(uri.key);
    } catch {
      // the command says what is wrong with it
    }
  }
  if (keys.length === 0) return;
  const { readFolderAhead } = await import('../storage/file/file-store.js');
  for (const key of keys) readFolderAhead(key);
}
