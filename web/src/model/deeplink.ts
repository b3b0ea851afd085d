// Deep links: the page URL hash holds the selected node, the camera and (when not the server's
// current graph) the preset, `#preset=llama-3.1-8b&node=attn_out-3&cam=x,y,z,tx,ty,tz`
// (docs/API.md). Parsing never throws: what cannot be read is reported in `problems` so
// the page can say so instead of showing a blank screen.

export interface Camera {
  position: [number, number, number];
  target: [number, number, number];
}

export interface DeepLink {
  /** A node name or decimal id, as written. */
  node?: string;
  camera?: Camera;
  preset?: string;
  /** Human-readable reasons why parts of the hash were ignored. */
  problems: string[];
}

export function parseDeepLink(hash: string): DeepLink {
  const out: DeepLink = { problems: [] };
  const body = hash.startsWith('#') ? hash.slice(1) : hash;
  if (body.length === 0) return out;
  const params = new URLSearchParams(body);
  const node = params.get('node');
  if (node !== null) {
    if (node.trim().length === 0) out.problems.push('the link names an empty node');
    else out.node = node;
  }
  const preset = params.get('preset');
  if (preset !== null && preset.length > 0) out.preset = preset;
  const cam = params.get('cam');
  if (cam !== null) {
    const parts = cam.split(',').map((s) => Number(s.trim()));
    if (parts.length !== 6 || parts.some((v) => !Number.isFinite(v)))
      out.problems.push(`the camera "${cam}" is not six numbers x,y,z,tx,ty,tz`);
    else
      out.camera = {
        position: [parts[0], parts[1], parts[2]],
        target: [parts[3], parts[4], parts[5]],
      };
  }
  for (const key of params.keys())
    if (key !== 'node' && key !== 'cam' && key !== 'preset') out.problems.push(`unknown link field "${key}"`);
  return out;
}

const round = (v: number): string => String(Math.round(v * 100) / 100);

export function formatDeepLink(link: Omit<DeepLink, 'problems'>): string {
  const parts: string[] = [];
  if (link.preset) parts.push(`preset=${encodeURIComponent(link.preset)}`);
  if (link.node !== undefined) parts.push(`node=${encodeURIComponent(link.node)}`);
  if (link.camera)
    parts.push(`cam=${[...link.camera.position, ...link.camera.target].map(round).join(',')}`);
  return parts.length > 0 ? `#${parts.join('&')}` : '';
}
