/// The live dashboard: one self-contained HTML page (inline CSS and script, charts drawn as SVG by
/// hand), so nothing is fetched from the internet. It loads `/state.json` once, then follows `/live`
/// (a WebSocket sending the state every second) and falls back to polling `/state.json` when the
/// WebSocket is unavailable. Element ids used by the tests: `heartbeat`, `mean-now`, `updates`.
enum DashboardPage {
    static let html = #"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Thaw — live</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#0f1419;color:#e6e6e6}
header{padding:12px 20px;background:#16202a;display:flex;gap:28px;align-items:baseline;flex-wrap:wrap}
header h1{font-size:18px;margin:0;color:#7fd1ff}
.kpi{font-size:12px;color:#9aa5b1}.kpi b{display:block;font-size:20px;color:#fff}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:14px;padding:14px 20px}
section{background:#16202a;border-radius:8px;padding:10px 14px}
section h2{font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:#9aa5b1;margin:0 0 8px}
svg{width:100%;height:auto;display:block}
.axis{stroke:#3a4754;stroke-width:1}.lbl{fill:#9aa5b1;font-size:10px}
.empty{color:#6b7785;font-style:italic}
table{border-collapse:collapse;width:100%;font-size:12px}td,th{padding:2px 6px;text-align:left;border-bottom:1px solid #24313d}
.ok{color:#7ee787}.bad{color:#ff7b72}
</style></head>
<body>
<header><h1>Thaw — live</h1>
<div class="kpi">deployment<b id="deployment">–</b></div>
<div class="kpi">heartbeat<b id="heartbeat">–</b></div>
<div class="kpi">nodes<b id="nodes">–</b></div>
<div class="kpi">mean accuracy before → now<b><span id="mean-before">–</span> → <span id="mean-now">–</span></b></div>
<div class="kpi">phones with heads<b id="heads">–</b></div>
<div class="kpi">refusals<b id="refused">–</b></div>
<div class="kpi">updates<b id="updates">0</b></div>
<div class="kpi">link<b id="link">connecting</b></div>
</header>
<main>
<section><h2>Held-out accuracy per user: before → now</h2><div id="users"></div></section>
<section><h2>Accuracy over time (mean bold, users faint)</h2><div id="acc-time"></div></section>
<section><h2>Worker throughput (batches/s)</h2><div id="workers"></div></section>
<section><h2>Deployment history</h2><div id="freeze"></div><div id="changes"></div></section>
<section><h2>Broadcast → eviction latency (ms)</h2><div id="latency"></div></section>
<section><h2>Prediction cache hit rate per phone</h2><div id="hits"></div></section>
<section><h2>Energy per phone (J)</h2><div id="energy"></div></section>
<section><h2>Refusals</h2><div id="refusals-time"></div><div id="refusals"></div></section>
</main>
<script>
"use strict";
const C=["#7fd1ff","#ffa657","#7ee787","#d2a8ff","#ff7b72","#f2cc60","#56d4dd","#e3b341"];
const $=id=>document.getElementById(id);
const esc=s=>String(s).replace(/[&<>"]/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c]));
const num=(v,d)=>v==null||typeof v!=="number"?"–":v.toFixed(d);
let updates=0;
function lines(series,opts){ // series: [{name,values,color,width}], values aligned with opts.times
  const W=460,H=170,L=38,B=20,T=8,R=8,t=opts.times||[];
  if(t.length<2) return '<p class="empty">waiting for data…</p>';
  let lo=opts.min??Infinity,hi=opts.max??-Infinity;
  if(opts.min==null||opts.max==null) for(const s of series) for(const v of s.values) if(v!=null&&isFinite(v)){lo=Math.min(lo,v);hi=Math.max(hi,v);}
  if(!isFinite(lo)) return '<p class="empty">waiting for data…</p>';
  if(hi===lo){hi=lo+1;}
  const x=i=>L+(W-L-R)*(t[i]-t[0])/Math.max(1,t[t.length-1]-t[0]), y=v=>T+(H-T-B)*(1-(v-lo)/(hi-lo));
  let svg=`<svg viewBox="0 0 ${W} ${H}"><line class="axis" x1="${L}" y1="${H-B}" x2="${W-R}" y2="${H-B}"/><line class="axis" x1="${L}" y1="${T}" x2="${L}" y2="${H-B}"/>`;
  svg+=`<text class="lbl" x="2" y="${T+8}">${num(hi,opts.digits??2)}</text><text class="lbl" x="2" y="${H-B}">${num(lo,opts.digits??2)}</text>`;
  svg+=`<text class="lbl" x="${L}" y="${H-4}">-${Math.round((t[t.length-1]-t[0])/1000)} s</text><text class="lbl" x="${W-R-22}" y="${H-4}">now</text>`;
  for(const s of series){let d="",pen=false;s.values.forEach((v,i)=>{if(v==null||!isFinite(v)){pen=false;return;}d+=(pen?"L":"M")+x(i).toFixed(1)+" "+y(v).toFixed(1);pen=true;});
    svg+=`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.width||1.5}" opacity="${s.opacity||1}"/>`;}
  let lx=L+6; for(const s of series.filter(s=>s.legend)){svg+=`<text x="${lx}" y="${T+10}" fill="${s.color}" font-size="10">${esc(s.name)}</text>`;lx+=8+7*s.name.length;}
  return svg+"</svg>";
}
function bars(rows,opts){ // rows: [{name, a, b}] a: grey (before), b: colour (now)
  if(!rows.length) return `<p class="empty">${opts.empty||"no data yet"}</p>`;
  const W=460,row=16,L=90,H=rows.length*row+6,max=opts.max??Math.max(1e-9,...rows.map(r=>Math.max(r.a??0,r.b??0)));
  const w=v=>(W-L-(opts.room??60))*Math.max(0,Math.min(1,(v??0)/max));
  let svg=`<svg viewBox="0 0 ${W} ${H}">`;
  rows.forEach((r,i)=>{const y=3+i*row;svg+=`<text class="lbl" x="0" y="${y+11}">${esc(r.name).slice(0,14)}</text>`;
    if(r.a!=null) svg+=`<rect x="${L}" y="${y+1}" width="${w(r.a)}" height="${row-4}" fill="#3a4754"/>`;
    if(r.b!=null) svg+=`<rect x="${L}" y="${y+4}" width="${w(r.b)}" height="${row-10}" fill="${opts.color||C[0]}"/>`;
    svg+=`<text class="lbl" x="${L+w(Math.max(r.a??0,r.b??0))+4}" y="${y+11}">${opts.label?opts.label(r):num(r.b,opts.digits??2)}</text>`;});
  return svg+"</svg>";
}
function render(s){
  updates++; $("updates").textContent=updates;
  const d=s.deployment;
  $("deployment").textContent=d?`model v${d.modelVersion} · k=${d.freezePoint} · epoch ${d.epoch}`:"no heartbeat yet";
  $("heartbeat").textContent="#"+s.heartbeats;
  $("nodes").textContent=Object.keys(s.nodes).length;
  const users=s.users, known=users.filter(u=>u.accuracy!=null&&u.accuracyBefore!=null);
  const mean=k=>known.length?known.reduce((a,u)=>a+u[k],0)/known.length:null;
  $("mean-before").textContent=num(mean("accuracyBefore")==null?null:100*mean("accuracyBefore"),1)+"%";
  $("mean-now").textContent=num(mean("accuracy")==null?null:100*mean("accuracy"),1)+"%";
  $("heads").textContent=`${users.filter(u=>u.headsSwapped>0).length} / ${users.length}`;
  $("refused").textContent=s.totalRefused;
  $("users").innerHTML=bars(users.map(u=>({name:u.user,a:u.accuracyBefore,b:u.accuracy})),{max:1,color:"#7ee787",room:90,
    label:r=>`${num(100*(r.a??0),0)}% → ${num(100*(r.b??0),0)}%`});
  const h=s.history, accSeries=Object.entries(h.accuracy).map(([n,v],i)=>({name:n,values:v,color:C[i%C.length],opacity:.35,width:1}));
  accSeries.push({name:"mean",values:h.meanAccuracy,color:"#fff",width:2.5,legend:true});
  $("acc-time").innerHTML=lines(accSeries,{times:h.times,min:0,max:1});
  $("workers").innerHTML=lines(Object.entries(h.workers).map(([n,v],i)=>({name:n,values:v,color:C[i%C.length],legend:true})),{times:h.times,min:0});
  $("freeze").innerHTML=lines([{name:"freeze point k",values:h.freezePoint,color:"#d2a8ff",legend:true,width:2}],{times:h.times,digits:0});
  $("changes").innerHTML=s.changes.length?"<table><tr><th>epoch</th><th>change</th><th>model</th><th>k</th><th>seen</th></tr>"+
    s.changes.slice().reverse().map(c=>`<tr><td>${c.epoch}</td><td>${c.kind==="freeze"?"freeze move":"model announce"}</td><td>v${c.modelVersion}</td><td>${c.freezePoint}</td><td>${new Date(c.seenMs).toLocaleTimeString()}</td></tr>`).join("")+"</table>"
    :'<p class="empty">no model announcement or freeze move seen yet</p>';
  $("latency").innerHTML=bars(s.latency.map(l=>({name:l.node,b:l.milliseconds})),{color:"#ffa657",digits:0,
    empty:"no deployment change applied yet (gauge deployment_apply_latency_ms)"});
  $("hits").innerHTML=bars(users.map(u=>({name:u.user,b:u.hitRate})),{max:1,color:"#56d4dd"});
  $("energy").innerHTML=bars(users.map(u=>({name:u.user,b:u.energyJoules})),{color:"#f2cc60",digits:1});
  $("refusals-time").innerHTML=lines([{name:"refused (all nodes)",values:h.refused,color:"#ff7b72",legend:true}],{times:h.times,digits:0});
  $("refusals").innerHTML=s.refusing.length?"<table><tr><th>node</th><th>role</th><th>refused</th><th>top reasons</th></tr>"+
    s.refusing.map(r=>`<tr><td>${esc(r.node)}</td><td>${esc(r.role)}</td><td class="bad">${r.refused}</td><td>${esc(r.reasons)}</td></tr>`).join("")+"</table>"
    :'<p class="ok">no node refused anything</p>';
}
function poll(){fetch("state.json").then(r=>r.json()).then(render).catch(()=>{}).finally(()=>setTimeout(poll,1000));}
function connect(){
  let ws; try{ws=new WebSocket(location.href.replace(/^http/,"ws").replace(/[^/]*$/,"live"));}catch(e){$("link").textContent="polling";poll();return;}
  ws.onopen=()=>{$("link").textContent="live";};
  ws.onmessage=m=>render(JSON.parse(m.data));
  ws.onclose=()=>{$("link").textContent="reconnecting";setTimeout(connect,1000);};
}
fetch("state.json").then(r=>r.json()).then(render).catch(()=>{}).finally(connect);
</script></body></html>
"""#
}
