// Preact with htm's tagged templates: components written as plain TypeScript (no JSX compiler step), rendered by a
// 4 kB library. Text in templates is escaped by Preact: data from the server never becomes markup.
import { h } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);
