// The first screen's requests, started while the page's modules are still on their way: the
// session's state and, on a files route, the folder's first page. Without this the page asks for
// them only once every module has arrived and run, one after the other, which on a tablet is
// most of the wait before the first rows. It imports nothing, and ci/bundle-page puts it inline
// in index.html so that it runs while the page is still being read; api.js takes each answer
// (once) when the page asks for the very same URL, and otherwise the answer is simply unused.

const early = new Map();
// The body is read here too, so that when the page takes the answer it has all of it at once and
// draws in the same task as it starts: no frame is painted, and laid out, in between.
const get = (url) => fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
  .then((res) => res.text().then((text) => ({ res, text })));

early.set('/api/state', get('/api/state'));

// The URL filelist.js asks first: the path of the route, the first page, the saved order.
const route = location.hash.replace(/^#\/?/, '').split('/');
if (route[0] === 'files') {
  const path = '/' + route.slice(1).filter((s) => s !== '').map((s) => {
    try { return decodeURIComponent(s); } catch (e) { return s; }
  }).join('/');
  let [sort, order] = ['name', 'asc'];
  try {
    const [s, o] = String(localStorage.getItem('microcloud.files.sort') || '').split(' ');
    if (['name', 'size', 'modified'].includes(s) && (o === 'asc' || o === 'desc')) [sort, order] = [s, o];
  } catch (e) { /* no storage: the default */ }
  const params = new URLSearchParams({ path, offset: '0', limit: '200', sort, order });
  early.set('/api/files?' + params.toString(), get('/api/files?' + params.toString()));
}

globalThis.microcloudEarly = early;
