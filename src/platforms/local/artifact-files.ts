import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ReadStream } from 'node:fs';

const IMAGE_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
};

export interface ArtifactFile {
  stream: ReadStream;
  contentType: string;
  bytes: number;
}

/**
 * Opens an image of the artifact store by its relative path, or gives undefined when the
 * path leaves the store (`..`, an absolute path, a symbolic link pointing out), is not an
 * image, or does not exist.
 */
export async function openArtifactImage(
  artifactsDir: string,
  relativePath: string,
): Promise<ArtifactFile | undefined> {
  const contentType = IMAGE_TYPES[path.extname(relativePath).toLowerCase()];
  if (!contentType || relativePath.includes('\0') || path.isAbsolute(relativePath))
    return undefined;

  try {
    // compare real paths, so a link inside the store cannot lead out of it
    const root = await realpath(artifactsDir);
    const file = await realpath(path.resolve(root, relativePath));
    if (!file.startsWith(root + path.sep)) return undefined;

    const info = await stat(file);
    if (!info.isFile()) return undefined;
    return { stream: createReadStream(file), contentType, bytes: info.size };
  } catch {
    return undefined;
  }
}
