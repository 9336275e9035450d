// paths.js
function segments(path) {
  return String(path).split("/").filter((s) => s !== "");
}
function joinPath(dir, name) {
  return "/" + [...segments(dir), name].join("/");
}
function parentOf(path) {
  return "/" + segments(path).slice(0, -1).join("/");
}
function baseName(path) {
  return segments(path).pop() || "";
}
function cleanFolder(typed) {
  return "/" + segments(String(typed).trim()).join("/");
}
function davUrl(path) {
  return "/api/dav/" + segments(path).map(encodeURIComponent).join("/");
}
function hashOf(route, path) {
  const segs = segments(path).map(encodeURIComponent);
  return `#/${route}` + (segs.length ? "/" + segs.join("/") : "");
}
function filesHash(path) {
  return hashOf("files", path);
}
function trashHash(path) {
  return hashOf("trash", path);
}
function pathOfRest(rest) {
  return "/" + rest.filter((s) => s !== "").map((s) => {
    try {
      return decodeURIComponent(s);
    } catch (e) {
      return s;
    }
  }).join("/");
}
function nameProblem(name) {
  if (!name) return "Type a name.";
  if (name.includes("/") || name.includes("\\")) return 'A name cannot contain "/" or "\\".';
  if (name === "." || name === "..") return 'A name cannot be "." or "..".';
  return null;
}

export {
  segments,
  joinPath,
  parentOf,
  baseName,
  cleanFolder,
  davUrl,
  filesHash,
  trashHash,
  pathOfRest,
  nameProblem
};
