// The WebGL renderer. On a software rasterizer (SwiftShader, llvmpipe: headless test machines,
// computers without a GPU) multisampling multiplies the per-pixel work, so it is turned off there
// and the pixel ratio kept at 1 (the app halves it while the camera moves); on a real GPU both
// are on.

import * as THREE from 'three';

/** The GPU's name as WebGL reports it (unmasked when the browser allows). */
export function rendererName(gl: WebGLRenderingContext | WebGL2RenderingContext): string {
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
}

function probeSoftware(): boolean {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return false;
  const soft = /swiftshader|llvmpipe|software/i.test(rendererName(gl));
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return soft;
}

export function createRenderer(canvas: HTMLCanvasElement): { renderer: THREE.WebGLRenderer; software: boolean } {
  const software = probeSoftware();
  const renderer = new THREE.WebGLRenderer({ canvas, antialias: !software, powerPreference: 'high-performance' });
  renderer.setPixelRatio(software ? 1 : Math.min(2, window.devicePixelRatio));
  return { renderer, software };
}
