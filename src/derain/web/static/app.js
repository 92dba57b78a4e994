// The page of `derain serve`: uploads photos one by one, follows each job, shows before/after.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const POLL_MS = 500;
const RETRY_MS = 2000;  // when the server's queue is full
let config = null;
let uploads = Promise.resolve();  // photos are sent one after another, in the order chosen

function mib(bytes) { return `${(bytes / 2 ** 20).toFixed(0)} MiB`; }

async function init() {
  const res = await fetch("/api/config");
  config = await res.json();
  for (const m of config.models) {
    const opt = new Option(m.name, m.name, false, m.name === config.model);
    opt.title = m.description;
    $("#model").append(opt);
  }
  $("#model").addEventListener("change", showVapour);
  $("#vapour").addEventListener("input", () => { $("#vapour-value").value = `${$("#vapour").value} %`; });
  showVapour();
  $("#files").accept = ["image/*", ...config.extensions].join(",");
  $("#limits").textContent = `${config.extensions.join(" ")} · up to ${mib(config.max_bytes)} and ` +
    `${(config.max_pixels / 1e6).toFixed(0)} MP each · nothing leaves this computer`;
  $("#files").addEventListener("change", (e) => { addFiles(e.target.files); e.target.value = ""; });
  const drop = $("#drop");
  document.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  document.addEventListener("dragleave", () => drop.classList.remove("over"));
  document.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); addFiles(e.dataTransfer.files); });
}

function chosenModel() { return config.models.find((m) => m.name === $("#model").value); }

// The vapour control: only for a model with a vapour branch, starting at that model's own amount.
function showVapour() {
  const model = chosenModel();
  $("#vapour-control").hidden = !model.vapour;
  $("#vapour").value = Math.round(100 * model.vapour_default);
  $("#vapour-value").value = `${$("#vapour").value} %`;
}

function addFiles(files) {
  for (const file of files) {
    const vapour = chosenModel().vapour ? Number($("#vapour").value) / 100 : null;
    const card = new Card(file.name, $("#model").value, vapour);
    uploads = uploads.then(() => card.upload(file));
  }
}

class Card {
  constructor(name, model, vapour) {
    this.el = $("#card").content.firstElementChild.cloneNode(true);
    this.name = name;
    this.model = model;
    this.vapour = vapour;  // null: the model has no vapour branch
    this.job = null;
    $(".name", this.el).textContent = name;
    $(".remove", this.el).addEventListener("click", () => this.remove());
    $(".zoom", this.el).addEventListener("click", () => this.toggleZoom());
    const slider = $(".slider", this.el);
    slider.addEventListener("input", () => this.split(slider.value));
    const stage = $(".stage", this.el);
    stage.addEventListener("pointerdown", (e) => { stage.setPointerCapture(e.pointerId); this.drag(e); });
    stage.addEventListener("pointermove", (e) => { if (e.buttons) this.drag(e); });
    $("#jobs").prepend(this.el);
    this.show("waiting to upload", 0);
  }

  show(text, progress) {
    $(".status", this.el).textContent = text;
    if (progress !== undefined) $("progress", this.el).value = progress;
  }

  fail(message) {
    this.el.dataset.state = "error";
    this.show("failed");
    const err = $(".error", this.el);
    err.textContent = message;
    err.hidden = false;
  }

  upload(file) {
    const ext = file.name.includes(".") ? file.name.slice(file.name.lastIndexOf(".")).toLowerCase() : "";
    if (!config.extensions.includes(ext)) return this.fail(`${file.name}: not a supported image type (${config.extensions.join(", ")})`);
    if (file.size > config.max_bytes) return this.fail(`${file.name}: over this server's limit of ${mib(config.max_bytes)}`);
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      const query = new URLSearchParams({ filename: file.name, model: this.model });
      if (this.vapour !== null) query.set("vapour", this.vapour);
      xhr.open("POST", `/api/jobs?${query}`);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.onprogress = (e) => this.show("uploading", e.lengthComputable ? e.loaded / e.total : 0);
      xhr.onload = () => {
        if (xhr.status === 202) {
          this.job = JSON.parse(xhr.responseText);
          this.poll();
          resolve();
        } else if (xhr.status === 503 || xhr.status === 429) {  // queue full, or this computer's other uploads
          this.show(xhr.responseText.trim());
          setTimeout(() => this.upload(file).then(resolve), RETRY_MS);
        } else {
          this.fail(xhr.responseText.trim() || `HTTP ${xhr.status}`);
          resolve();
        }
      };
      xhr.onerror = () => { this.fail(`${file.name}: upload failed (is the server still running?)`); resolve(); };
      xhr.send(file);
    });
  }

  async poll() {
    if (!this.el.isConnected) return;
    let job;
    try {
      const res = await fetch(`/api/jobs/${this.job.id}`);
      if (!res.ok) return this.fail((await res.text()).trim());
      job = await res.json();
    } catch {
      return this.fail("lost contact with the server (is it still running?)");
    }
    this.el.dataset.state = job.state;
    if (job.before && !$(".before", this.el).src) this.showBefore();
    if (job.state === "queued") this.show(job.ahead ? `waiting: ${job.ahead} photo(s) first` : "waiting", 0);
    else if (job.state === "running") this.show(job.message, job.progress);
    else if (job.state === "done") return this.finish();
    else return this.fail(job.message || job.state);
    setTimeout(() => this.poll(), POLL_MS);
  }

  showBefore() {
    const url = `/api/jobs/${this.job.id}`;
    $(".before", this.el).src = `${url}/before`;
    $(".viewer", this.el).hidden = false;
    $(".zoom", this.el).disabled = false;
    this.split(100);  // the whole photo is "before" until the result arrives
  }

  finish() {
    const url = `/api/jobs/${this.job.id}`;
    const vapour = this.vapour === null ? "" : `, ${Math.round(100 * this.vapour)} % of the vapour removed`;
    this.show(`derained with ${this.job.model}${vapour}`, 1);
    $(".after", this.el).src = `${url}/after`;
    $(".slider-row", this.el).hidden = false;
    this.split(50);
    const link = $(".download", this.el);
    link.href = `${url}/result`;
    link.download = this.name;
    link.hidden = false;
  }

  split(percent) {
    $(".after", this.el).style.clipPath = `inset(0 0 0 ${percent}%)`;
    $(".divider", this.el).style.left = `${percent}%`;
    $(".slider", this.el).value = percent;
  }

  drag(e) {
    if ($(".slider-row", this.el).hidden) return;
    // the slider's step is "any", so its thumb lands exactly where this puts the divider
    const box = $(".stage", this.el).getBoundingClientRect();
    this.split(Math.min(100, Math.max(0, (100 * (e.clientX - box.left)) / box.width)).toFixed(1));
  }

  toggleZoom() {
    const viewer = $(".viewer", this.el);
    const actual = viewer.classList.toggle("actual");
    $(".zoom", this.el).textContent = actual ? "Fit" : "100 %";
    // a photo wider than the viewer scrolls at 100 %: start with the split in the middle of the view
    const divider = $(".divider", this.el).getBoundingClientRect();
    viewer.scrollLeft += divider.left + divider.width / 2 - viewer.getBoundingClientRect().left - viewer.clientWidth / 2;
  }

  remove() {
    if (this.job) fetch(`/api/jobs/${this.job.id}`, { method: "DELETE" });
    this.el.remove();
  }
}

init();
